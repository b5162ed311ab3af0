// Builds each node's snapshot from the control plane's state, following the make-before-break rule of
// protocol/roam.proto: proxies route to a host only once it reports the endpoint ready, and a host keeps an
// endpoint while any proxy still routes to it. Pure: state in, snapshots out.
import type { CallerPolicy } from '../core/mesh-authz.ts';
import { LOCAL_INVOKE_BASE } from '../proxy/index.ts';
import type { EndpointRecord, NodeRecord, Weights } from './state.ts';

export interface RouteMsg {
  match: string;
  endpoint: string;
  host: string;
  timeoutMs: number;
  retries: number;
}

export interface TargetMsg {
  /** `local`: the proxy's own embedded host; `host`: another node's, reached over HTTP at `url`. */
  kind: 'host' | 'local';
  url: string;
  weight: number;
  hostId: string;
  tier: string;
}

export interface EndpointTargetsMsg {
  endpoint: string;
  digest: string;
  targets: TargetMsg[];
  /** Who may call it over the mesh; null (the proto default): any mesh identity. */
  callers?: CallerPolicy | null;
}

export interface AssignmentMsg {
  endpoint: string;
  digest: string;
  timeoutMs: number;
  memoryPages: number;
}

export interface SnapshotContent {
  routes: RouteMsg[];
  endpoints: EndpointTargetsMsg[];
  assignments: AssignmentMsg[];
}

export interface SnapshotInput {
  endpoints: EndpointRecord[];
  placements: { endpoint: string; nodeId: string }[];
  nodes: NodeRecord[];
  /** Per endpoint, the hosts that proxies route to in the snapshots they last acknowledged. */
  routed: Map<string, Set<string>>;
  /** Per endpoint, how each origin site splits over the replicas (absent: evenly). */
  weights: Map<string, Weights>;
}

function readyFor(node: NodeRecord, endpoint: string): boolean {
  const prefix = `${endpoint}@`;
  return node.ready.some((r) => r.startsWith(prefix));
}

/** The URL other nodes reach `node`'s endpoints at: a host's API, or a proxy's embedded-host prefix. */
function invokeUrl(node: NodeRecord): string {
  return node.kind === 'proxy' ? `${node.address}${LOCAL_INVOKE_BASE}` : node.address;
}

export function buildSnapshots(input: SnapshotInput): Map<string, SnapshotContent> {
  const placed = new Map<string, Set<string>>();
  for (const p of input.placements) {
    let set = placed.get(p.endpoint);
    if (!set) {
      set = new Set();
      placed.set(p.endpoint, set);
    }
    set.add(p.nodeId);
  }
  // Every node runs endpoints: hosts, and proxies through their embedded in-process host.
  const runners = input.nodes;
  const out = new Map<string, SnapshotContent>();
  const assignmentsOf = (n: NodeRecord): AssignmentMsg[] =>
    input.endpoints
      .filter((ep) => placed.get(ep.name)?.has(n.id) || input.routed.get(ep.name)?.has(n.id))
      .map((ep) => ({ endpoint: ep.name, digest: ep.digest, timeoutMs: 0, memoryPages: 0 }));

  // Hosts: what is placed on them, plus what proxies still route to them (break only after the routes went).
  for (const h of runners)
    if (h.kind === 'host') out.set(h.id, { routes: [], endpoints: [], assignments: assignmentsOf(h) });

  const routes: RouteMsg[] = [];
  for (const ep of input.endpoints) {
    for (const r of ep.routes) {
      routes.push({
        match: r.match,
        endpoint: ep.name,
        host: r.host ?? '',
        timeoutMs: r.timeoutMs ?? 0,
        retries: r.retries ?? 1,
      });
    }
  }
  for (const proxy of runners) {
    if (proxy.kind !== 'proxy') continue;
    const endpoints: EndpointTargetsMsg[] = [];
    for (const ep of input.endpoints) {
      const targets = targetsFor(proxy, ep.name, input, placed.get(ep.name), runners);
      if (targets.length > 0)
        endpoints.push({
          endpoint: ep.name,
          digest: ep.digest,
          targets,
          ...(ep.policy.callers ? { callers: ep.policy.callers } : {}),
        });
    }
    // An endpoint nothing can serve yet keeps its routes out, so its requests stay with the service.
    const served = new Set(endpoints.map((e) => e.endpoint));
    out.set(proxy.id, {
      routes: routes.filter((r) => served.has(r.endpoint)),
      endpoints,
      assignments: assignmentsOf(proxy),
    });
  }
  return out;
}

/**
 * The targets one proxy uses for one endpoint: the replicas that are up and ready, weighted by its site's
 * share (others as standbys); if the share names none of them, all evenly; until one is ready, the ones
 * proxies route to today (make before break).
 */
function targetsFor(
  proxy: NodeRecord,
  endpoint: string,
  input: SnapshotInput,
  placedIds: Set<string> | undefined,
  runners: NodeRecord[],
): TargetMsg[] {
  const usable = (ids: Set<string> | undefined) =>
    runners.filter((h) => ids?.has(h.id) && h.status === 'up' && readyFor(h, endpoint));
  const placed = usable(placedIds);
  const share = input.weights.get(endpoint)?.[proxy.location] ?? input.weights.get(endpoint)?.['*'];
  // Replicas this origin's share leaves out stay as standbys (weight 0): they take the attempts the weighted
  // ones cannot, e.g. the old replica while a move verifies the new one.
  let chosen =
    share && placed.some((h) => (share[h.id] ?? 0) > 0)
      ? placed.map((h) => ({ node: h, weight: share[h.id] ?? 0 }))
      : placed.map((h) => ({ node: h, weight: 1 }));
  if (chosen.length === 0) chosen = usable(input.routed.get(endpoint)).map((h) => ({ node: h, weight: 1 }));
  return chosen.map(({ node, weight }) => ({
    kind: node.id === proxy.id ? 'local' : 'host',
    url: node.id === proxy.id ? '' : invokeUrl(node),
    // Integer weights for the wire (the balancer needs only their ratio); 0 marks a standby.
    weight: weight > 0 ? Math.max(1, Math.round(weight * 1000)) : 0,
    hostId: node.id,
    tier: node.tier,
  }));
}
