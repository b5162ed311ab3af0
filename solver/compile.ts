// The problem compiled to flat tables the algorithms share. The unit of decision is an agent: a whole endpoint
// when it runs on one host, or one origin site's share of a replicated endpoint. Hosts are grouped in zones
// (same site and tier) because every cost but migration depends on the zone only, and zones are few.
import { byteCost, cpuMs } from './model.ts';
import type { PlacementProblem } from './problem.ts';
import { trafficByOrigin } from './traffic.ts';

export interface Instance {
  problem: PlacementProblem;
  /** Counts: endpoints, hosts, zones, origin sites, agents, pairs. */
  E: number;
  H: number;
  Z: number;
  O: number;
  A: number;
  P: number;
  hostZone: Int32Array;
  zoneSite: Int32Array;
  zoneTier: string[];
  /** Hosts of each zone. */
  zoneHosts: number[][];
  /** CPU and memory free on each host before the solver places anything. */
  capCpu: Float64Array;
  capMem: Float64Array;

  agentEndpoint: Int32Array;
  /** Origin sites each agent serves (an unreplicated endpoint's agent serves them all). */
  agentOrigins: number[][];
  /** Agents of each endpoint. */
  agentsOf: number[][];
  maxReplicas: Int32Array;
  memory: Float64Array;
  /** Weighted cost of starting a replica of the endpoint on a host that does not run it now. */
  moveCost: Float64Array;
  /** E x H: whether the endpoint runs on the host now. */
  current: Uint8Array;
  /** E x H: whether policy and store reachability let the endpoint run on the host. */
  allowed: Uint8Array;

  /** A x Z: the agent's own cost in a zone (origin round trips, execution, stores, calls to itself). */
  zoneCost: Float64Array;
  /** A x Z: CPU millicores the agent takes on a host of that zone. */
  load: Float64Array;

  /** Pairs of agents linked by calls: cost(s, t) = wRtt x rtt[s][t] + wBytes x byteCost[s][t]. */
  pairA: Int32Array;
  pairB: Int32Array;
  pairRtt: Float64Array;
  pairBytes: Float64Array;
  /** Z x Z round trips and weighted byte costs between zones. */
  rttZ: Float64Array;
  byteZ: Float64Array;
  /** Pairs each agent takes part in. */
  pairsOf: number[][];
  /** trafficByOrigin of the problem: requests/s per endpoint and origin site. */
  traffic: Float64Array[];
}

export function compile(p: PlacementProblem): Instance {
  const E = p.endpoints.length;
  const H = p.hosts.length;
  const O = p.sites.length;
  const zoneKey = new Map<string, number>();
  const zoneSite: number[] = [];
  const zoneTier: string[] = [];
  const hostZone = Int32Array.from(p.hosts, (h) => {
    const key = `${h.site}\u0000${h.tier}`;
    let z = zoneKey.get(key);
    if (z === undefined) {
      z = zoneSite.length;
      zoneKey.set(key, z);
      zoneSite.push(h.site);
      zoneTier.push(h.tier);
    }
    return z;
  });
  const Z = zoneSite.length;
  const zoneHosts: number[][] = zoneSite.map(() => []);
  for (const [j, z] of hostZone.entries()) zoneHosts[z]!.push(j);
  const rttZ = new Float64Array(Z * Z);
  const byteZ = new Float64Array(Z * Z);
  for (let s = 0; s < Z; s++)
    for (let t = 0; t < Z; t++) {
      rttZ[s * Z + t] = p.rttMs[zoneSite[s]!]![zoneSite[t]!]!;
      byteZ[s * Z + t] = byteCost(p, zoneTier[s]!, zoneSite[s]!, zoneTier[t]!, zoneSite[t]!);
    }

  const traffic = trafficByOrigin(p);
  const index = new Map(p.endpoints.map((e, i) => [e.id, i]));
  const storeById = new Map(p.stores.map((s) => [s.id, s]));
  const maxReplicas = Int32Array.from(p.endpoints, (e) => e.policy?.maxReplicas ?? 1);
  const allowed = new Uint8Array(E * H);
  const current = new Uint8Array(E * H);
  const hostIndex = new Map(p.hosts.map((h, j) => [h.id, j]));
  const capabilities = p.hosts.map((h) => new Set(h.capabilities));
  // This and the tables below run on every solve, re-solves included, at up to 2000 endpoints x 50 hosts x 12
  // sites: flat arrays, and no work for what does not apply (no policy, no traffic from a site).
  const unreachable = new Uint8Array(O);
  p.endpoints.forEach((e, i) => {
    // The checks of model.ts's disallowed(), without building its explanations.
    const policy = e.policy;
    unreachable.fill(0);
    let blocked = false;
    for (const a of e.stores) {
      const rtt = storeById.get(a.store)!.rttMs;
      for (let site = 0; site < O; site++)
        if (rtt[site] === null) {
          unreachable[site] = 1;
          blocked = true;
        }
    }
    const row = allowed.subarray(i * H, (i + 1) * H);
    const requires = policy?.requires ?? [];
    const forbidden = policy?.forbiddenTiers ?? [];
    if (
      !blocked &&
      policy?.pinnedHosts === undefined &&
      policy?.pinnedTier === undefined &&
      forbidden.length === 0 &&
      requires.length === 0
    )
      row.fill(1);
    else {
      const pinned = policy?.pinnedHosts ? new Set(policy.pinnedHosts) : undefined;
      p.hosts.forEach((h, j) => {
        const ok =
          (pinned === undefined || pinned.has(h.id)) &&
          (policy?.pinnedTier === undefined || h.tier === policy.pinnedTier) &&
          !forbidden.includes(h.tier) &&
          requires.every((c) => capabilities[j]!.has(c)) &&
          !unreachable[h.site];
        row[j] = ok ? 1 : 0;
      });
    }
    for (const id of e.current ?? []) current[i * H + hostIndex.get(id)!] = 1;
  });

  // Agents: replicated endpoints get one per origin with traffic (all origins in one when there is none).
  const agentEndpoint: number[] = [];
  const agentOrigins: number[][] = [];
  const agentsOf: number[][] = p.endpoints.map(() => []);
  const agentAt: Int32Array[] = p.endpoints.map(() => new Int32Array(O));
  const everyOrigin = [...Array(O).keys()];
  const addAgent = (i: number, origins: number[]) => {
    const a = agentEndpoint.length;
    agentEndpoint.push(i);
    agentOrigins.push(origins);
    agentsOf[i]!.push(a);
    return a;
  };
  p.endpoints.forEach((_e, i) => {
    const t = traffic[i]!;
    let busy = 0;
    for (let o = 0; o < O; o++) if (t[o]! > 0) busy++;
    if (maxReplicas[i]! > 1 && busy > 1) {
      for (let o = 0; o < O; o++) if (t[o]! > 0) agentAt[i]![o] = addAgent(i, [o]);
      // Origins without traffic follow the first agent; they cost nothing and load nothing.
      for (let o = 0; o < O; o++) if (!(t[o]! > 0)) agentAt[i]![o] = agentsOf[i]![0]!;
    } else agentAt[i]!.fill(addAgent(i, everyOrigin));
  });
  const A = agentEndpoint.length;

  // Per endpoint and zone: execution and store access per request served.
  const msPerCall = new Float64Array(E * Z);
  const perRequest = new Float64Array(E * Z);
  p.endpoints.forEach((e, i) => {
    for (let z = 0; z < Z; z++) {
      const site = zoneSite[z]!;
      const ms = cpuMs(e, zoneTier[z]!);
      let cost = ms;
      for (const s of e.stores) {
        const store = storeById.get(s.store)!;
        const rtt = store.rttMs[site] ?? 0; // unreachable zones are disallowed for the endpoint
        cost +=
          s.perRequest * rtt + s.bytesPerRequest * byteCost(p, zoneTier[z]!, site, store.tier, store.site);
      }
      msPerCall[i * Z + z] = ms;
      perRequest[i * Z + z] = cost;
    }
  });
  const zoneCost = new Float64Array(A * Z);
  const load = new Float64Array(A * Z);
  const toSite = new Float64Array(O); // the agent's clients' round trips to each site
  for (let a = 0; a < A; a++) {
    const i = agentEndpoint[a]!;
    const e = p.endpoints[i]!;
    const t = traffic[i]!;
    let rate = 0;
    toSite.fill(0);
    for (const o of agentOrigins[a]!) {
      rate += t[o]!;
      const clients = e.ratePerOrigin[o]!;
      if (clients === 0) continue;
      const rtt = p.rttMs[o]!;
      for (let site = 0; site < O; site++) toSite[site] = toSite[site]! + clients * rtt[site]!;
    }
    for (let z = 0; z < Z; z++) {
      zoneCost[a * Z + z] = toSite[zoneSite[z]!]! + rate * perRequest[i * Z + z]!;
      load[a * Z + z] = rate * msPerCall[i * Z + z]!;
    }
  }

  // Pairs: one per (caller agent, callee agent), merging origins and parallel calls; calls to itself are unary.
  const pairKey = new Map<number, number>();
  const pairA: number[] = [];
  const pairB: number[] = [];
  const pairRtt: number[] = [];
  const pairBytes: number[] = [];
  p.endpoints.forEach((e, i) => {
    for (const c of e.calls) {
      const f = index.get(c.to)!;
      for (let o = 0; o < O; o++) {
        const calls = traffic[i]![o]! * c.perRequest;
        if (calls <= 0) continue;
        const a = agentAt[i]![o]!;
        const b = agentAt[f]![o]!;
        if (a === b) {
          for (let z = 0; z < Z; z++)
            zoneCost[a * Z + z] =
              zoneCost[a * Z + z]! + calls * (rttZ[z * Z + z]! + c.bytesPerCall * byteZ[z * Z + z]!);
          continue;
        }
        const key = a * A + b;
        let k = pairKey.get(key);
        if (k === undefined) {
          k = pairA.length;
          pairKey.set(key, k);
          pairA.push(a);
          pairB.push(b);
          pairRtt.push(0);
          pairBytes.push(0);
        }
        pairRtt[k] = pairRtt[k]! + calls;
        pairBytes[k] = pairBytes[k]! + calls * c.bytesPerCall;
      }
    }
  });
  const pairsOf: number[][] = agentEndpoint.map(() => []);
  pairA.forEach((a, k) => {
    pairsOf[a]!.push(k);
    pairsOf[pairB[k]!]!.push(k);
  });

  return {
    problem: p,
    E,
    H,
    Z,
    O,
    A,
    P: pairA.length,
    hostZone,
    zoneSite: Int32Array.from(zoneSite),
    zoneTier,
    zoneHosts,
    capCpu: Float64Array.from(p.hosts, (h) => h.cpuMillis - (h.cpuUsedMillis ?? 0)),
    capMem: Float64Array.from(p.hosts, (h) => h.memoryMib - (h.memoryUsedMib ?? 0)),
    agentEndpoint: Int32Array.from(agentEndpoint),
    agentOrigins,
    agentsOf,
    maxReplicas,
    memory: Float64Array.from(p.endpoints, (e) => e.memoryMib),
    moveCost: Float64Array.from(p.endpoints, (e) => (e.moveCost ?? 0) * (p.weights?.migration ?? 1)),
    current,
    allowed,
    zoneCost,
    load,
    pairA: Int32Array.from(pairA),
    pairB: Int32Array.from(pairB),
    pairRtt: Float64Array.from(pairRtt),
    pairBytes: Float64Array.from(pairBytes),
    rttZ,
    byteZ,
    pairsOf,
    traffic,
  };
}

/** Cost of pair k with its caller in zone s and its callee in zone t. */
export function pairCost(x: Instance, k: number, s: number, t: number): number {
  return x.pairRtt[k]! * x.rttZ[s * x.Z + t]! + x.pairBytes[k]! * x.byteZ[s * x.Z + t]!;
}

/** Whether agent a may sit on host h (policy only; capacity is the caller's business). */
export function agentAllowed(x: Instance, a: number, h: number): boolean {
  return x.allowed[x.agentEndpoint[a]! * x.H + h] === 1;
}
