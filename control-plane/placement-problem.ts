// Turns what the control plane knows (nodes as they subscribed, endpoints with their policies and placements)
// and what the profiler measured (per-endpoint profiles, network distances) into the solver's placement
// problem, and placements back into layouts. Pure: no clock, no I/O. Nothing here reads a topology file:
// distances come from the profiler's probes only.
import type { EndpointPlacement, Placement, PlacementProblem, SolverEndpoint } from '../solver/index.ts';
import type { Layout } from './migration.ts';
import type { EndpointRecord, NodeRecord, Weights } from './state.ts';

/** An endpoint as the profiler sees it, in the units the solver wants. */
export interface ObservedEndpoint {
  endpoint: string;
  /** Requests/s by origin site (where the requests entered the mesh). */
  ratePerOrigin: Record<string, number>;
  /** Execution ms per call by host tier. */
  cpuMsPerCall: Record<string, number>;
  memoryMib: number;
  stores: { store: string; perRequest: number; bytesPerRequest: number }[];
  calls: { to: string; perRequest: number; bytesPerCall: number }[];
  /**
   * Whether a host has reported running it: until then its data access and calls are unknown (the proxies
   * see only its traffic), and moving it on traffic alone could take it away from its data.
   */
  measuredOnHosts: boolean;
}

/** Measured round trips; undefined where nothing was measured yet. */
export interface ObservedNetwork {
  siteRttMs(from: string, to: string): number | undefined;
  storeRttMs(site: string, store: string): number | undefined;
}

export interface ProblemInput {
  nodes: NodeRecord[];
  endpoints: EndpointRecord[];
  placements: Map<string, Layout>;
  observed: Map<string, ObservedEndpoint>;
  network: ObservedNetwork;
  /** Objective units charged per replica started somewhere new (see solver weights). */
  moveCost: number;
}

/** Round trip assumed within one site before it is measured. */
const SAME_SITE_RTT_MS = 0.2;

export function buildProblem(input: ProblemInput): PlacementProblem {
  const runners = input.nodes.filter((n) => n.status === 'up' && (n.kind === 'host' || n.kind === 'proxy'));
  const storeSite = new Map<string, string>();
  for (const n of input.nodes)
    for (const s of n.stores)
      if (s.kind !== 'remote' || !storeSite.has(s.name)) storeSite.set(s.name, s.location);
  const sites = [...new Set([...runners.map((n) => n.location), ...storeSite.values()])].sort();
  const index = new Map(sites.map((s, i) => [s, i]));
  const measured: number[] = [];
  for (const a of sites)
    for (const b of sites) {
      const v = a === b ? undefined : input.network.siteRttMs(a, b);
      if (v !== undefined) measured.push(v);
    }
  // Unmeasured pairs cost as much as the farthest measured one: the solver will not bet on a guess.
  const unknown = measured.length > 0 ? Math.max(...measured) : 50;
  const rttMs = sites.map((a) =>
    sites.map((b) => input.network.siteRttMs(a, b) ?? (a === b ? SAME_SITE_RTT_MS : unknown)),
  );
  const stores = [...storeSite].map(([id, site]) => ({
    id,
    site: index.get(site)!,
    tier: 'store',
    rttMs: sites.map((s) => {
      const v = input.network.storeRttMs(s, id);
      return v ?? (s === site ? SAME_SITE_RTT_MS : rttMs[index.get(s)!]![index.get(site)!]!);
    }),
  }));
  const known = new Set(input.endpoints.map((e) => e.name));
  const endpoints: SolverEndpoint[] = input.endpoints.map((e) => {
    const o = input.observed.get(e.name);
    const storesUsed = (o?.stores ?? []).filter((s) => storeSite.has(s.store));
    const current = (input.placements.get(e.name)?.hosts ?? []).filter((h) =>
      runners.some((r) => r.id === h),
    );
    return {
      id: e.name,
      ratePerOrigin: sites.map((s) => o?.ratePerOrigin[s] ?? 0),
      cpuMsPerCall: { default: 0.05, ...(o?.cpuMsPerCall ?? {}) },
      memoryMib: o?.memoryMib ?? 16,
      stores: storesUsed,
      calls: (o?.calls ?? []).filter((c) => known.has(c.to) && c.to !== e.name),
      policy: {
        ...(e.policy.pinnedTier ? { pinnedTier: e.policy.pinnedTier } : {}),
        ...(e.policy.forbiddenTiers ? { forbiddenTiers: e.policy.forbiddenTiers } : {}),
        // An endpoint that touches a store can run only where that store is reachable.
        requires: [...new Set([...(e.policy.requires ?? []), ...storesUsed.map((s) => `store:${s.store}`)])],
        maxReplicas: e.policy.maxReplicas ?? 1,
      },
      current,
      moveCost: input.moveCost,
    };
  });
  return {
    sites,
    rttMs,
    hosts: runners.map((n) => ({
      id: n.id,
      tier: n.tier,
      site: index.get(n.location)!,
      cpuMillis: n.cpuMillis,
      memoryMib: n.memoryMib,
      capabilities: n.capabilities,
    })),
    stores,
    endpoints,
    bandwidthCostPerByte: {},
  };
}

/**
 * The placement the mesh runs now, in the solver's terms: each origin is served by the replica its weights
 * favour, or the nearest one when they split evenly.
 */
export function currentPlacement(p: PlacementProblem, layouts: Map<string, Layout>): Placement {
  const hostSite = new Map(p.hosts.map((h) => [h.id, h.site]));
  const out: Placement = {};
  for (const e of p.endpoints) {
    const layout = layouts.get(e.id);
    const hosts = (layout?.hosts ?? []).filter((h) => hostSite.has(h));
    if (hosts.length === 0) continue;
    out[e.id] = {
      hosts,
      route: p.sites.map((site, o) => {
        const share = layout?.weights?.[site] ?? layout?.weights?.['*'];
        const weighted = hosts.filter((h) => (share?.[h] ?? 0) > 0);
        const pool = weighted.length > 0 ? weighted : hosts;
        const best = Math.max(...pool.map((h) => share?.[h] ?? 1));
        const top = pool.filter((h) => (share?.[h] ?? 1) === best);
        return top.reduce((a, b) =>
          p.rttMs[o]![hostSite.get(b)!]! < p.rttMs[o]![hostSite.get(a)!]! ? b : a,
        );
      }),
    };
  }
  return out;
}

/** A solver placement of one endpoint as the layout proxies apply: each origin site to its replica. */
export function layoutOf(p: PlacementProblem, placement: EndpointPlacement): Layout {
  if (placement.hosts.length === 1) return { hosts: [...placement.hosts] };
  const weights: Weights = {};
  p.sites.forEach((site, o) => {
    weights[site] = { [placement.route[o]!]: 1 };
  });
  return { hosts: [...placement.hosts], weights };
}

/** Whether two layouts route every origin the same way. */
export function sameLayout(a: Layout, b: Layout): boolean {
  const key = (l: Layout) =>
    JSON.stringify({ h: [...l.hosts].sort(), w: l.hosts.length > 1 ? (l.weights ?? null) : null });
  return key(a) === key(b);
}
