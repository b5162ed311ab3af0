// Builds each node's snapshot from the control plane's state, following the make-before-break rule of
// protocol/roam.proto: proxies route to a host only once it reports the endpoint ready, and a host keeps an
// endpoint while any proxy still routes to it. Pure: state in, snapshots out.
import type { EndpointRecord, NodeRecord } from './state.ts';

export interface RouteMsg {
  match: string;
  endpoint: string;
  host: string;
  timeoutMs: number;
  retries: number;
}

export interface TargetMsg {
  kind: 'host';
  url: string;
  weight: number;
  hostId: string;
  tier: string;
}

export interface EndpointTargetsMsg {
  endpoint: string;
  digest: string;
  targets: TargetMsg[];
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
}

function readyFor(node: NodeRecord, endpoint: string): boolean {
  const prefix = `${endpoint}@`;
  return node.ready.some((r) => r.startsWith(prefix));
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
  const hosts = input.nodes.filter((n) => n.kind === 'host');
  const out = new Map<string, SnapshotContent>();

  // Hosts: what is placed on them, plus what proxies still route to them (break only after the routes went).
  for (const h of hosts) {
    const assignments: AssignmentMsg[] = [];
    for (const ep of input.endpoints) {
      if (placed.get(ep.name)?.has(h.id) || input.routed.get(ep.name)?.has(h.id)) {
        assignments.push({ endpoint: ep.name, digest: ep.digest, timeoutMs: 0, memoryPages: 0 });
      }
    }
    out.set(h.id, { routes: [], endpoints: [], assignments });
  }

  // Proxies: targets are the placed hosts that are up and ready; until one is, the hosts routed today stay.
  const routes: RouteMsg[] = [];
  const endpoints: EndpointTargetsMsg[] = [];
  for (const ep of input.endpoints) {
    const usable = (ids: Set<string> | undefined) =>
      hosts.filter((h) => ids?.has(h.id) && h.status === 'up' && readyFor(h, ep.name));
    let targetHosts = usable(placed.get(ep.name));
    if (targetHosts.length === 0) targetHosts = usable(input.routed.get(ep.name));
    if (targetHosts.length === 0) continue; // nothing can serve it yet: its routes stay with the service
    endpoints.push({
      endpoint: ep.name,
      digest: ep.digest,
      targets: targetHosts.map((h) => ({
        kind: 'host',
        url: h.address,
        weight: 1,
        hostId: h.id,
        tier: h.tier,
      })),
    });
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
  for (const p of input.nodes.filter((n) => n.kind === 'proxy')) {
    out.set(p.id, { routes, endpoints, assignments: [] });
  }
  return out;
}
