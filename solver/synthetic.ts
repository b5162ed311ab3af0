// Seeded synthetic placement problems shaped like real profiles: one or two cluster sites with big hosts, edge
// sites with medium ones, device sites with small ones; round trips growing device -> edge -> cluster; a
// layered call graph (front ends called by clients, services called by front ends, back ends that use the
// stores); skewed per-site traffic; a few policies and replicated front ends; CPU demand a set share of
// capacity. Deterministic for a seed, so tests, benchmarks and load tests can share instances.
import { seededRandom as prng } from '../core/random.ts';
import type { PlacementProblem, SolverEndpoint, SolverHost, SolverStore } from './problem.ts';
import { trafficByOrigin } from './traffic.ts';

export interface SyntheticOptions {
  endpoints: number;
  hosts: number;
  seed?: number;
  /** Fraction of total CPU capacity the endpoints demand at cluster speed (default 0.6). */
  utilisation?: number;
  /** Whether some front ends may run replicas (default true). */
  replicas?: boolean;
}

const TIER_CPU: Record<string, number> = { cluster: 16_000, edge: 4000, device: 1000 };
const TIER_MEM: Record<string, number> = { cluster: 65_536, edge: 8192, device: 2048 };
const BASE_RTT: Record<string, number> = {
  'cluster|cluster': 8,
  'edge|edge': 15,
  'device|device': 20,
  'cluster|edge': 40,
  'cluster|device': 55,
  'device|edge': 10,
};

export function syntheticProblem(o: SyntheticOptions): PlacementProblem {
  const rand = prng(o.seed ?? 1);
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const siteCount = Math.max(3, Math.min(12, Math.ceil(o.hosts / 4)));
  const siteTier = Array.from({ length: siteCount }, (_, s) =>
    s === 0 || s === 6 ? 'cluster' : s % 2 === 1 ? 'edge' : 'device',
  );
  const sites = siteTier.map((t, s) => `${t}-${s}`);
  const rttMs = sites.map((_a, i) =>
    sites.map((_b, j) => {
      if (i === j) return siteTier[i] === 'cluster' ? 0.2 : 0.5;
      const key = [siteTier[i], siteTier[j]].sort().join('|');
      return BASE_RTT[key]! * (0.8 + (0.4 * ((Math.min(i, j) * 7 + Math.max(i, j) * 13) % 10)) / 10);
    }),
  );

  const hosts: SolverHost[] = [];
  for (let h = 0; h < o.hosts; h++) {
    // One host per site first, then cluster sites get half of the rest.
    const site =
      h < siteCount
        ? h
        : rand() < 0.5
          ? siteTier.indexOf('cluster') + (siteCount > 6 && rand() < 0.5 ? 6 : 0)
          : Math.floor(rand() * siteCount);
    const tier = siteTier[site]!;
    hosts.push({
      id: `h${h}`,
      site,
      tier,
      cpuMillis: TIER_CPU[tier]!,
      memoryMib: TIER_MEM[tier]!,
      capabilities: tier === 'cluster' ? ['gpu'] : [],
    });
  }

  const storeAt = (id: string, site: number, reach: (s: number) => boolean): SolverStore => ({
    id,
    site,
    tier: siteTier[site]!,
    rttMs: sites.map((_s, from) => (reach(from) ? rttMs[from]![site]! + 0.3 : null)),
  });
  const stores = [
    storeAt('db-main', 0, (s) => siteTier[s] !== 'device'),
    storeAt('cache-edge', 1, () => true),
    storeAt('kv-regional', Math.min(3, siteCount - 1), () => true),
  ];

  // Layers: 20 % front ends, 50 % services, 30 % back ends.
  const layer = (e: number) =>
    e < Math.ceil(o.endpoints * 0.2) ? 0 : e < Math.ceil(o.endpoints * 0.7) ? 1 : 2;
  const endpoints: SolverEndpoint[] = [];
  for (let e = 0; e < o.endpoints; e++) {
    const l = layer(e);
    const ratePerOrigin = sites.map(() => 0);
    if (l === 0 || rand() < 0.15) {
      // Client traffic enters mostly at one or two sites, a trickle elsewhere.
      for (let s = 0; s < siteCount; s++) ratePerOrigin[s] = rand() < 0.3 ? rand() * 2 : 0;
      ratePerOrigin[Math.floor(rand() * siteCount)]! += between(20, 100);
      if (rand() < 0.4) ratePerOrigin[Math.floor(rand() * siteCount)]! += between(10, 50);
    }
    const cpu = between(0.2, rand() < 0.1 ? 12 : 3);
    const policy: SolverEndpoint['policy'] = {};
    const r = rand();
    if (r < 0.05) policy.forbiddenTiers = ['device'];
    else if (r < 0.08) policy.requires = ['gpu'];
    else if (r < 0.1) policy.pinnedTier = 'cluster';
    if (l === 0 && o.replicas !== false && rand() < 0.3) policy.maxReplicas = 2 + Math.floor(rand() * 3);
    endpoints.push({
      id: `e${e}`,
      ratePerOrigin,
      cpuMsPerCall: { cluster: cpu, edge: cpu * 1.5, device: cpu * 2.5 },
      memoryMib: 16 + Math.floor(rand() * 240),
      stores:
        l === 2 || rand() < 0.1
          ? [
              {
                store: stores[Math.floor(rand() * stores.length)]!.id,
                perRequest: 1 + Math.floor(rand() * 4),
                bytesPerRequest: between(500, 8000),
              },
            ]
          : [],
      calls: [],
      ...(Object.keys(policy).length > 0 ? { policy } : {}),
      moveCost: between(50, 500),
    });
  }
  // Each endpoint below the front ends is called by one or two endpoints of the layer above.
  for (let e = 0; e < o.endpoints; e++) {
    const l = layer(e);
    if (l === 0) continue;
    const above = [...Array(o.endpoints).keys()].filter((f) => layer(f) === l - 1);
    if (above.length === 0) continue;
    const callers = rand() < 0.3 ? 2 : 1;
    for (let c = 0; c < callers; c++) {
      const from = above[Math.floor(rand() * above.length)]!;
      if (endpoints[from]!.calls.some((k) => k.to === `e${e}`)) continue;
      endpoints[from]!.calls.push({
        to: `e${e}`,
        perRequest: between(0.3, 1.5),
        bytesPerCall: between(200, 4000),
      });
    }
  }

  // Scale client traffic so the CPU demand at cluster speed is the target share of capacity, with no
  // endpoint above a quarter of the biggest host (real profiles are sharded long before that).
  const problem: PlacementProblem = {
    sites,
    rttMs,
    hosts,
    stores,
    endpoints,
    bandwidthCostPerByte: {
      cluster: { edge: 2e-4, device: 2e-4, cluster: 5e-5 },
      edge: { cluster: 1e-4, device: 5e-5, edge: 5e-5 },
      device: { cluster: 1e-4, edge: 5e-5, device: 5e-5 },
    },
  };
  const demand = (t: Float64Array[]) =>
    t.reduce((n, row, e) => n + row.reduce((a, b) => a + b, 0) * endpoints[e]!.cpuMsPerCall.cluster!, 0);
  const capacity = hosts.reduce((n, h) => n + h.cpuMillis, 0);
  const scale = ((o.utilisation ?? 0.6) * capacity) / Math.max(1e-9, demand(trafficByOrigin(problem)));
  for (const e of endpoints) e.ratePerOrigin = e.ratePerOrigin.map((r) => r * scale);
  const traffic = trafficByOrigin(problem);
  const biggest = Math.max(...hosts.map((h) => h.cpuMillis));
  endpoints.forEach((e, i) => {
    const load = traffic[i]!.reduce((a, b) => a + b, 0) * e.cpuMsPerCall.cluster!;
    if (load > biggest / 4) {
      const f = biggest / 4 / load;
      e.cpuMsPerCall = {
        cluster: e.cpuMsPerCall.cluster! * f,
        edge: e.cpuMsPerCall.edge! * f,
        device: e.cpuMsPerCall.device! * f,
      };
    }
  });
  return problem;
}
