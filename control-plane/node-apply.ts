// What a node does with a snapshot. A host reconciles declaratively: it runs exactly the assigned
// endpoint@digest set (fetching modules it lacks), warming new versions before they take traffic and draining
// what is no longer assigned. A proxy turns the snapshot into a route table and swaps it in.
import type { CallerPolicy } from '../core/mesh-authz.ts';
import type { RouteConfig, SidecarProxy } from '../proxy/index.ts';
import type { WasmHost } from '../wasm-host/index.ts';
import type { ApplyResult } from './client.ts';
import type { SnapshotMsg } from './proto.ts';

export async function reconcileHost(
  host: WasmHost,
  snapshot: SnapshotMsg,
  fetchModule: (digest: string) => Promise<Uint8Array>,
): Promise<ApplyResult> {
  const wanted = new Map(snapshot.assignments.map((a) => [a.endpoint, a]));
  for (const a of wanted.values()) {
    if (host.activeDigest(a.endpoint) === a.digest) continue;
    // Only modules the control plane assigned are run, and only if their bytes match the digest.
    if (!host.modules.has(a.digest)) host.modules.put(await fetchModule(a.digest), a.digest);
    const limits = {
      ...(a.timeoutMs ? { timeoutMs: a.timeoutMs } : {}),
      ...(a.memoryPages ? { memoryPages: a.memoryPages } : {}),
    };
    await host.activate(a.endpoint, a.digest, { limits });
  }
  for (const { endpoint } of host.endpoints()) {
    if (!wanted.has(endpoint)) void host.deactivate(endpoint).catch(() => {});
  }
  return {
    ready: host
      .endpoints()
      .filter((e) => !e.draining)
      .map((e) => `${e.endpoint}@${e.digest}`),
  };
}

export function routeConfigOf(snapshot: SnapshotMsg): RouteConfig {
  return {
    version: snapshot.version,
    routes: snapshot.routes.map((r) => ({
      match: r.match,
      endpoint: r.endpoint,
      ...(r.host ? { host: r.host } : {}),
      ...(r.timeoutMs ? { timeoutMs: r.timeoutMs } : {}),
      retries: r.retries,
    })),
    endpoints: Object.fromEntries(
      snapshot.endpoints.map((e) => [
        e.endpoint,
        {
          digest: e.digest,
          targets: e.targets.map((t) =>
            t.kind === 'local'
              ? { kind: 'local' as const, weight: t.weight }
              : { kind: 'host' as const, url: t.url, weight: t.weight, id: t.hostId, tier: t.tier },
          ),
          ...(e.callers ? { callers: callerPolicyOf(e.callers) } : {}),
        },
      ]),
    ),
  };
}

/**
 * A proxy's embedded host is reconciled like any host (it may be warming an endpoint no route uses yet), then
 * the route table is swapped in; unloading is the reconcile's job, so the swap unloads nothing.
 */
export async function applyToProxy(
  proxy: SidecarProxy,
  snapshot: SnapshotMsg,
  fetchModule: (digest: string) => Promise<Uint8Array>,
): Promise<ApplyResult> {
  const result = proxy.host ? await reconcileHost(proxy.host, snapshot, fetchModule) : {};
  await proxy.applyRoutes(routeConfigOf(snapshot), { unloadLocal: false });
  return result;
}

/** The lists a snapshot's caller policy names (the wire carries empty lists for the ones it does not). */
function callerPolicyOf(p: CallerPolicy): CallerPolicy {
  return Object.fromEntries(
    Object.entries(p).filter(([, list]) => Array.isArray(list) && list.length > 0),
  ) as CallerPolicy;
}
