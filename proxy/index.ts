// The sidecar proxy's public surface.
export { AdminServer, proxyStats } from './admin.ts';
export { loadRouteFile } from './config-file.ts';
export {
  DEFAULT_PROXY_LIMITS,
  LOCAL_INVOKE_BASE,
  MESH_CALL_PREFIX,
  type ProxyLimits,
  type ProxyOptions,
  SidecarProxy,
} from './proxy.ts';
export type { EndpointSpec, RouteConfig, RouteSpec, TargetSpec } from './route-table.ts';
export { RouteTable } from './route-table.ts';
