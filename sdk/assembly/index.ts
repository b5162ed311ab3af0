// The Roam endpoint SDK for AssemblyScript: write an endpoint as a plain handler, compile it once, and the
// mesh runs it wherever it should live. See sdk/README.md.
export { Header } from "./wire";
export { Request, Response, formValue, urlDecode } from "./http";
export { Store, lastStoreError } from "./store";
export { callEndpoint, lastCallError } from "./call";
export { log, nowNs, randomBytes } from "./runtime";
export { JsonKind, JsonValue, JsonWriter, parseJson, quote } from "./json";
export { serve, Handler } from "./exports";
