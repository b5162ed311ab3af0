// The objective and the constraints, computed straight from the problem for a given placement. Everything else
// (the compiled tables, the MILP, the heuristic, the bound) must agree with these; the tests check that it does.
import type { Cost, Placement, PlacementProblem, SolverEndpoint, SolverHost } from './problem.ts';
import { trafficByOrigin } from './traffic.ts';

export function cpuMs(e: SolverEndpoint, tier: string): number {
  return e.cpuMsPerCall[tier] ?? e.cpuMsPerCall.default ?? 0;
}

/** Weighted cost of one byte from `fromTier` at `fromSite` to `toTier` at `toSite`. */
export function byteCost(
  p: PlacementProblem,
  fromTier: string,
  fromSite: number,
  toTier: string,
  toSite: number,
): number {
  if (fromSite === toSite) return 0;
  return (p.bandwidthCostPerByte[fromTier]?.[toTier] ?? 0) * (p.weights?.egress ?? 1);
}

/** Why `host` may not run `e` at all, or undefined. Capacity is not considered here. */
export function disallowed(p: PlacementProblem, e: SolverEndpoint, host: SolverHost): string | undefined {
  const policy = e.policy;
  if (policy?.pinnedHosts && !policy.pinnedHosts.includes(host.id))
    return `pinned to ${policy.pinnedHosts.join(', ')}`;
  if (policy?.pinnedTier !== undefined && host.tier !== policy.pinnedTier)
    return `pinned to tier ${policy.pinnedTier}, host is ${host.tier}`;
  if (policy?.forbiddenTiers?.includes(host.tier)) return `tier ${host.tier} is forbidden`;
  const missing = (policy?.requires ?? []).filter((c) => !host.capabilities.includes(c));
  if (missing.length > 0) return `lacks ${missing.join(', ')}`;
  const unreachable = e.stores
    .map((a) => p.stores.find((s) => s.id === a.store)!)
    .filter((s) => s.rttMs[host.site] === null);
  if (unreachable.length > 0)
    return `cannot reach store ${unreachable.map((s) => s.id).join(', ')} from site ${p.sites[host.site]}`;
  return undefined;
}

/** The objective of a complete placement, by part (`traffic`: trafficByOrigin(p), when the caller has it). */
export function evaluate(
  p: PlacementProblem,
  placement: Placement,
  traffic: Float64Array[] = trafficByOrigin(p),
): Cost {
  const O = p.sites.length;
  const hostIndex = new Map(p.hosts.map((h, j) => [h.id, j]));
  const endpointIndex = new Map(p.endpoints.map((e, i) => [e.id, i]));
  const storeById = new Map(p.stores.map((s) => [s.id, s]));
  // Each endpoint's host per origin, looked up once: the calls below read their callee's.
  const routed = new Int32Array(p.endpoints.length * O);
  p.endpoints.forEach((e, i) => {
    const route = placement[e.id]!.route;
    for (let o = 0; o < O; o++) routed[i * O + o] = hostIndex.get(route[o]!)!;
  });
  let latency = 0;
  let egress = 0;
  let migration = 0;
  p.endpoints.forEach((e, i) => {
    const calls = e.calls.map((c) => ({ ...c, to: endpointIndex.get(c.to)! }));
    for (let o = 0; o < O; o++) {
      const h = p.hosts[routed[i * O + o]!]!;
      const rate = traffic[i]![o]!;
      latency += e.ratePerOrigin[o]! * p.rttMs[o]![h.site]! + rate * cpuMs(e, h.tier);
      if (rate === 0) continue;
      for (const a of e.stores) {
        const s = storeById.get(a.store)!;
        latency += rate * a.perRequest * (s.rttMs[h.site] ?? Number.POSITIVE_INFINITY);
        egress += rate * a.bytesPerRequest * byteCost(p, h.tier, h.site, s.tier, s.site);
      }
      for (const c of calls) {
        const g = p.hosts[routed[c.to * O + o]!]!;
        const n = rate * c.perRequest;
        latency += n * p.rttMs[h.site]![g.site]!;
        egress += n * c.bytesPerCall * byteCost(p, h.tier, h.site, g.tier, g.site);
      }
    }
    const started = placement[e.id]!.hosts.filter((h) => !(e.current ?? []).includes(h)).length;
    migration += started * (e.moveCost ?? 0) * (p.weights?.migration ?? 1);
  });
  return { total: latency + egress + migration, latency, egress, migration };
}

/** Every constraint a placement breaks, in words; empty when it is feasible. */
export function violations(p: PlacementProblem, placement: Placement): string[] {
  const out: string[] = [];
  const traffic = trafficByOrigin(p);
  const hostIndex = new Map(p.hosts.map((h, j) => [h.id, j]));
  const cpu = Float64Array.from(p.hosts, (h) => h.cpuUsedMillis ?? 0);
  const mem = Float64Array.from(p.hosts, (h) => h.memoryUsedMib ?? 0);
  p.endpoints.forEach((e, i) => {
    const at = placement[e.id];
    if (!at || at.hosts.length === 0 || at.route.length !== p.sites.length) {
      out.push(`${e.id} is not placed, or has no route for every origin site`);
      return;
    }
    const hosts = new Set(at.hosts);
    if (hosts.size !== at.hosts.length) out.push(`${e.id} lists a host twice`);
    if (hosts.size > (e.policy?.maxReplicas ?? 1))
      out.push(`${e.id} runs on ${hosts.size} hosts, more than its ${e.policy?.maxReplicas ?? 1} allowed`);
    for (const id of hosts) {
      const j = hostIndex.get(id);
      if (j === undefined) {
        out.push(`${e.id} is placed on unknown host ${id}`);
        continue;
      }
      const why = disallowed(p, e, p.hosts[j]!);
      if (why) out.push(`${e.id} on ${id}: ${why}`);
      mem[j] = mem[j]! + e.memoryMib;
    }
    at.route.forEach((id, o) => {
      const j = hostIndex.get(id);
      if (j === undefined || !hosts.has(id)) {
        out.push(`${e.id}: origin ${p.sites[o]} is routed to ${id}, which runs no replica of it`);
        return;
      }
      cpu[j] = cpu[j]! + traffic[i]![o]! * cpuMs(e, p.hosts[j]!.tier);
    });
  });
  p.hosts.forEach((h, j) => {
    const tolerance = 1e-6 * Math.max(1, h.cpuMillis, h.memoryMib);
    if (cpu[j]! > h.cpuMillis + tolerance)
      out.push(`${h.id}: CPU ${cpu[j]!.toFixed(1)} > ${h.cpuMillis} mCPU`);
    if (mem[j]! > h.memoryMib + tolerance) out.push(`${h.id}: memory ${mem[j]} > ${h.memoryMib} MiB`);
  });
  return out;
}
