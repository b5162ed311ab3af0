// The Roam endpoint SDK for AssemblyScript: write an endpoint as one handler, compile it once, and the mesh
// runs it wherever it should live. The ABI functions come from ./exports (see sdk/README.md).
export { Header } from "./wire";
export { Request, Response, formValue, parseDecimal, urlDecode } from "./http";
export { Store, STORE_ERROR } from "./store";
export { callEndpoint, lastCallError, CALL_FAILED, CALL_UNKNOWN_ENDPOINT } from "./call";
export { log, nowNs, randomBytes } from "./runtime";
export { JsonKind, JsonValue, JsonWriter, parseJson, quote } from "./json";
export { serve, Handler } from "./serve";
