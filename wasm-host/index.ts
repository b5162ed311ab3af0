// The Wasm host's public surface: what the proxy embeds and what `roam host` serves.
export type { EndpointRequest, EndpointResponse, HeaderList } from './abi.ts';
export { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './abi.ts';
export type { CalleeUsage, EndpointUsage, StoreUsage } from './accounting.ts';
export type { ActivateOptions, EndpointStats, ExecMode, Tier, WasmHostOptions } from './host.ts';
export { TIERS, WasmHost } from './host.ts';
export type { CallContext, EndpointCaller } from './host-services.ts';
export { DEFAULT_LIMITS, type Limits } from './limits.ts';
export { DIGEST, digestOf, ModuleStore } from './module-store.ts';
export * from './stores/index.ts';
