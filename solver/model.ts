// The objective and the constraints, evaluated for a given placement. Everything else in the solver (the MILP
// formulations, the heuristic) must agree with these two functions; the tests check that it does.
import type { Placement, PlacementProblem, SolverEndpoint, SolverHost } from './problem.ts';

export function totalRate(e: SolverEndpoint): number {
  let r = 0;
  for (const x of e.ratePerSite) r += x;
  return r;
}

export function cpuMs(e: SolverEndpoint, tier: string): number {
  return e.cpuMsPerCall[tier] ?? e.cpuMsPerCall.default ?? 0;
}

/** Why `host` may not run `e`, or undefined. */
export function disallowed(e: SolverEndpoint, host: SolverHost): string | undefined {
  const p = e.policy;
  if (!p) return undefined;
  if (p.pinnedTier && host.tier !== p.pinnedTier)
    return `pinned to ${p.pinnedTier}, ${host.id} is ${host.tier}`;
  if (p.forbiddenTiers?.includes(host.tier)) return `tier ${host.tier} forbidden`;
  const missing = (p.requires ?? []).filter((c) => !host.capabilities.includes(c));
  if (missing.length > 0) return `${host.id} lacks ${missing.join(', ')}`;
  return undefined;
}

/** CPU an endpoint takes on a host of `tier`, in millicores: requests/s x ms per call. */
export function cpuLoad(e: SolverEndpoint, tier: string): number {
  return totalRate(e) * cpuMs(e, tier);
}

/**
 * The part of the endpoint's own cost that depends only on the site it runs at: traffic-weighted round trips
 * from each origin, data-store round trips and egress to stores at other sites.
 */
export function siteCost(
  p: PlacementProblem,
  e: SolverEndpoint,
  site: number,
  storeSite: Map<string, number>,
): number {
  const rate = totalRate(e);
  let cost = 0;
  for (let s = 0; s < e.ratePerSite.length; s++) cost += e.ratePerSite[s]! * p.rttMs[s]![site]!;
  for (const a of e.stores) {
    const at = storeSite.get(a.store);
    if (at === undefined) continue;
    cost += rate * a.perRequest * p.rttMs[site]![at]!;
    if (at !== site) cost += rate * a.bytesPerRequest * p.egressCostPerByte;
  }
  return cost;
}

/** The rest of the endpoint's own cost on a host: execution, and the move cost if it is not where it runs now. */
export function hostCost(e: SolverEndpoint, h: SolverHost): number {
  const move = e.current !== undefined && e.current !== h.id ? (e.moveCost ?? 0) : 0;
  return totalRate(e) * cpuMs(e, h.tier) + move;
}

/** The part of the objective that depends on the endpoint's own host only. */
export function unaryCost(
  p: PlacementProblem,
  e: SolverEndpoint,
  h: SolverHost,
  storeSite: Map<string, number>,
): number {
  return siteCost(p, e, h.site, storeSite) + hostCost(e, h);
}

/** Cost of the calls from `e` (at site `a`) to `f` (at site `b`): round trips weighted by traffic, and egress. */
export function pairCost(
  p: PlacementProblem,
  e: SolverEndpoint,
  call: SolverEndpoint['calls'][number],
  a: number,
  b: number,
): number {
  const calls = totalRate(e) * call.perRequest;
  return calls * p.rttMs[a]![b]! + (a !== b ? calls * call.bytesPerCall * p.egressCostPerByte : 0);
}

export interface Indexed {
  hostById: Map<string, SolverHost>;
  storeSite: Map<string, number>;
  endpointById: Map<string, SolverEndpoint>;
}

export function indexProblem(p: PlacementProblem): Indexed {
  return {
    hostById: new Map(p.hosts.map((h) => [h.id, h])),
    storeSite: new Map(p.stores.map((s) => [s.id, s.site])),
    endpointById: new Map(p.endpoints.map((e) => [e.id, e])),
  };
}

/** The objective of a complete placement. */
export function evaluate(p: PlacementProblem, placement: Placement, ix: Indexed = indexProblem(p)): number {
  let cost = 0;
  for (const e of p.endpoints) {
    const h = ix.hostById.get(placement[e.id]!)!;
    cost += unaryCost(p, e, h, ix.storeSite);
    for (const c of e.calls) {
      const f = placement[c.to];
      if (f === undefined) continue;
      cost += pairCost(p, e, c, h.site, ix.hostById.get(f)!.site);
    }
  }
  return cost;
}

/** Every constraint a placement breaks, in words; empty when it is feasible. */
export function violations(
  p: PlacementProblem,
  placement: Placement,
  ix: Indexed = indexProblem(p),
): string[] {
  const out: string[] = [];
  const cpu = new Map<string, number>();
  const mem = new Map<string, number>();
  for (const e of p.endpoints) {
    const hostId = placement[e.id];
    const h = hostId === undefined ? undefined : ix.hostById.get(hostId);
    if (!h) {
      out.push(`${e.id} is not placed on a known host`);
      continue;
    }
    const why = disallowed(e, h);
    if (why) out.push(`${e.id} on ${h.id}: ${why}`);
    cpu.set(h.id, (cpu.get(h.id) ?? h.cpuUsedMillis ?? 0) + cpuLoad(e, h.tier));
    mem.set(h.id, (mem.get(h.id) ?? 0) + e.memoryMib);
  }
  const eps = 1e-6;
  for (const h of p.hosts) {
    if ((cpu.get(h.id) ?? 0) > h.cpuMillis + eps)
      out.push(`${h.id}: CPU ${cpu.get(h.id)!.toFixed(1)} > ${h.cpuMillis}`);
    if ((mem.get(h.id) ?? 0) > h.memoryMib + eps)
      out.push(`${h.id}: memory ${mem.get(h.id)} > ${h.memoryMib}`);
  }
  return out;
}
