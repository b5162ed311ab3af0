// Seeded synthetic placement problems shaped like real profiles: a cluster site with big hosts, edge sites
// with medium ones, device sites with small ones; round trips that grow device -> edge -> cluster; skewed
// per-site traffic; a few data stores; about one call edge per endpoint; CPU demand around 60 % of capacity.
// Deterministic for a seed, so tests and benchmarks are repeatable.
import type { PlacementProblem, SolverEndpoint, SolverHost } from './problem.ts';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticOptions {
  endpoints: number;
  hosts: number;
  seed?: number;
  /** Call edges per endpoint, on average. */
  callsPerEndpoint?: number;
  /** Fraction of total CPU capacity the endpoints demand. */
  utilisation?: number;
}

export function syntheticProblem(o: SyntheticOptions): PlacementProblem {
  const rand = prng(o.seed ?? 1);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  // Sites: one cluster, then edges and devices; about one site per three hosts, at least three.
  const siteCount = Math.max(3, Math.min(12, Math.ceil(o.hosts / 3)));
  const sites: string[] = [];
  const siteTier: string[] = [];
  for (let s = 0; s < siteCount; s++) {
    const tier = s === 0 ? 'cluster' : s % 2 === 1 ? 'edge' : 'device';
    sites.push(`${tier}-${s}`);
    siteTier.push(tier);
  }
  const base: Record<string, number> = {
    'cluster|cluster': 0.3,
    'edge|edge': 15,
    'device|device': 20,
    'cluster|edge': 40,
    'cluster|device': 55,
    'device|edge': 10,
  };
  const rttMs = sites.map((_a, i) =>
    sites.map((_b, j) => {
      if (i === j) return siteTier[i] === 'cluster' ? 0.2 : 0.5;
      const key = [siteTier[i], siteTier[j]].sort().join('|');
      return base[key]! * (0.8 + (0.4 * ((i * 7 + j * 13) % 10)) / 10);
    }),
  );
  for (let i = 0; i < siteCount; i++) for (let j = 0; j < i; j++) rttMs[i]![j] = rttMs[j]![i]!;

  const hosts: SolverHost[] = [];
  for (let h = 0; h < o.hosts; h++) {
    const site = h < siteCount ? h : Math.floor(rand() * siteCount);
    const tier = siteTier[site]!;
    const cpu = tier === 'cluster' ? 16_000 : tier === 'edge' ? 4000 : 1000;
    const mem = tier === 'cluster' ? 65_536 : tier === 'edge' ? 8192 : 2048;
    hosts.push({
      id: `h${h}`,
      site,
      tier,
      cpuMillis: cpu,
      memoryMib: mem,
      capabilities: tier === 'cluster' ? ['gpu'] : [],
    });
  }
  const stores = [
    { id: 'db-main', site: 0 },
    { id: 'cache-edge', site: 1 % siteCount },
    { id: 'kv-regional', site: Math.min(3, siteCount - 1) },
  ];
  const endpoints: SolverEndpoint[] = [];
  for (let e = 0; e < o.endpoints; e++) {
    // Traffic enters mostly at one or two sites.
    const ratePerSite = sites.map(() => (rand() < 0.25 ? rand() * 20 : rand() * 2));
    ratePerSite[Math.floor(rand() * siteCount)]! += 20 + rand() * 80;
    const cpuBase = 0.2 + rand() * (rand() < 0.1 ? 20 : 3);
    const accesses =
      rand() < 0.4
        ? [
            {
              store: pick(stores).id,
              perRequest: 1 + Math.floor(rand() * 5),
              bytesPerRequest: 500 + rand() * 5000,
            },
          ]
        : [];
    endpoints.push({
      id: `e${e}`,
      ratePerSite,
      cpuMsPerCall: { cluster: cpuBase, edge: cpuBase * 1.5, device: cpuBase * 2.5 },
      memoryMib: 16 + Math.floor(rand() * 240),
      stores: accesses,
      calls: [],
      ...(rand() < 0.05 ? { policy: { forbiddenTiers: ['device'] } } : {}),
    });
  }
  const calls = Math.round(o.endpoints * (o.callsPerEndpoint ?? 1));
  for (let k = 0; k < calls && o.endpoints > 1; k++) {
    const from = Math.floor(rand() * o.endpoints);
    let to = Math.floor(rand() * o.endpoints);
    if (to === from) to = (to + 1) % o.endpoints;
    endpoints[from]!.calls.push({
      to: `e${to}`,
      perRequest: 0.2 + rand() * 2,
      bytesPerCall: 200 + rand() * 2000,
    });
  }
  // Scale rates so CPU demand is the target share of capacity (measured at cluster speed).
  const capacity = hosts.reduce((n, h) => n + h.cpuMillis, 0);
  const demand = endpoints.reduce(
    (n, e) => n + e.ratePerSite.reduce((a, b) => a + b, 0) * e.cpuMsPerCall.cluster!,
    0,
  );
  const scale = ((o.utilisation ?? 0.6) * capacity) / demand;
  // No single endpoint takes more than half of the biggest host (real profiles are sharded long before that).
  const biggest = Math.max(...hosts.map((h) => h.cpuMillis));
  for (const e of endpoints) {
    const load = e.ratePerSite.reduce((a, b) => a + b, 0) * scale * e.cpuMsPerCall.cluster!;
    const cap = load > biggest / 2 ? biggest / 2 / load : 1;
    e.ratePerSite = e.ratePerSite.map((r) => r * scale * cap);
  }
  return { sites, rttMs, hosts, stores, endpoints, egressCostPerByte: 1e-5 };
}
