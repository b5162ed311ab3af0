// The solver's answers are right and honest: hand-computed optima are found by every backend, replicas, stores,
// egress and migration are costed as documented, the exact backends agree, infeasible problems are explained,
// a warm re-solve starts from the previous answer, and placements cross threads as routes and back.
import { describe, expect, it } from 'vitest';
import {
  evaluate,
  explainInfeasible,
  InfeasibleError,
  type PlacementProblem,
  placementFromRoutes,
  routesFromPlacement,
  solve,
  syntheticProblem,
  violations,
} from '../index.ts';

/** Two sites 10 ms apart, one host each; a is called from site 0, b from site 1, 10 requests/s each. */
function tiny(): PlacementProblem {
  return {
    sites: ['s0', 's1'],
    rttMs: [
      [0, 10],
      [10, 0],
    ],
    hosts: [
      { id: 'h0', site: 0, tier: 'cluster', cpuMillis: 1000, memoryMib: 100, capabilities: [] },
      { id: 'h1', site: 1, tier: 'edge', cpuMillis: 1000, memoryMib: 100, capabilities: [] },
    ],
    stores: [],
    endpoints: [
      { id: 'a', ratePerOrigin: [10, 0], cpuMsPerCall: { default: 1 }, memoryMib: 10, stores: [], calls: [] },
      { id: 'b', ratePerOrigin: [0, 10], cpuMsPerCall: { default: 1 }, memoryMib: 10, stores: [], calls: [] },
    ],
    bandwidthCostPerByte: {},
  };
}

const backends = ['heuristic', 'lp-solver', 'highs', 'highs-relaxation'] as const;

describe('solve', () => {
  it('finds the hand-computed optimum with every backend: each endpoint next to its clients', async () => {
    for (const backend of backends) {
      const s = await solve(tiny(), { backend });
      expect(s.placement, backend).toEqual({
        a: { hosts: ['h0'], route: ['h0', 'h0'] },
        b: { hosts: ['h1'], route: ['h1', 'h1'] },
      });
      // 10 req/s x 1 ms of execution each, no network: 20.
      expect(s.objective, backend).toBeCloseTo(20);
      expect(s.bound, backend).toBeCloseTo(20, 3);
    }
  });

  it('keeps a chatty pair together when capacity forces one of them away from its clients', async () => {
    const p = tiny();
    // h0 holds only one of them (15 mCPU; a takes 10, b takes 10). b calls a 5 times per request, so a also
    // serves 50 req/s from b: 60 req/s x 1 ms = 60 mCPU, which h0 cannot hold at all.
    p.hosts[0]!.cpuMillis = 15;
    p.endpoints[1]!.calls = [{ to: 'a', perRequest: 5, bytesPerCall: 0 }];
    for (const backend of backends) {
      const s = await solve(p, { backend });
      expect(violations(p, s.placement), backend).toEqual([]);
      // Both on h1: a's clients pay 10 x 10 ms, execution 60 + 10, the calls stay in-site (0 ms): 170.
      expect(s.placement.a!.hosts, backend).toEqual(['h1']);
      expect(s.objective, backend).toBeCloseTo(170);
    }
  });

  it('runs replicas where clients are, routing each origin to its own', async () => {
    const p = tiny();
    p.endpoints[0]!.ratePerOrigin = [10, 10];
    p.endpoints[0]!.policy = { maxReplicas: 2 };
    for (const backend of backends) {
      const s = await solve(p, { backend });
      expect(s.placement.a, backend).toEqual({
        hosts: expect.arrayContaining(['h0', 'h1']),
        route: ['h0', 'h1'],
      });
      expect(s.objective, backend).toBeCloseTo(30); // 20 req/s of a plus 10 of b, 1 ms each, no round trips
    }
    p.endpoints[0]!.policy = { maxReplicas: 1 };
    const one = await solve(p, { backend: 'highs' });
    expect(one.placement.a!.hosts).toHaveLength(1);
    expect(one.objective).toBeCloseTo(130); // one origin's 10 req/s pay 10 ms
  });

  it('charges store round trips, egress between tiers and migration as documented', async () => {
    const p = tiny();
    // a reads db (at site 1, 2 ms from site 1, 30 ms from site 0) 3 times per request, 1000 bytes each request.
    p.stores = [{ id: 'db', site: 1, tier: 'cluster', rttMs: [30, 2] }];
    p.endpoints[0]!.stores = [{ store: 'db', perRequest: 3, bytesPerRequest: 1000 }];
    p.bandwidthCostPerByte = { cluster: { cluster: 0.001 } };
    p.endpoints[0]!.current = ['h0'];
    p.endpoints[0]!.moveCost = 500;
    // On h0: 10 (exec) + 10 x 3 x 30 (store) + 10 x 1000 x 0.001 (egress, cluster->cluster across sites) = 920.
    // On h1: 10 x 10 (clients) + 10 + 10 x 3 x 2 + 500 (move) = 670; with b: +10 either way.
    expect(
      evaluate(p, { a: { hosts: ['h0'], route: ['h0', 'h0'] }, b: { hosts: ['h1'], route: ['h1', 'h1'] } }),
    ).toEqual({ total: 930, latency: 920, egress: 10, migration: 0 });
    const s = await solve(p, { backend: 'lp-solver' });
    expect(s.placement.a!.hosts).toEqual(['h1']);
    expect(s.cost.migration).toBe(500);
    expect(s.objective).toBeCloseTo(680);
    // A dearer move keeps a where it is.
    p.endpoints[0]!.moveCost = 5000;
    expect((await solve(p, { backend: 'highs' })).placement.a!.hosts).toEqual(['h0']);
  });

  it('keeps endpoints off sites that cannot reach their store, and off hosts their policy rules out', async () => {
    const p = tiny();
    p.endpoints[1]!.ratePerOrigin = [0, 10];
    p.stores = [{ id: 'db', site: 0, tier: 'cluster', rttMs: [1, null] }];
    p.endpoints[1]!.stores = [{ store: 'db', perRequest: 1, bytesPerRequest: 0 }];
    p.endpoints[0]!.policy = { requires: ['gpu'] };
    p.hosts[1]!.capabilities = ['gpu'];
    for (const backend of backends) {
      const s = await solve(p, { backend });
      expect(s.placement.b!.hosts, backend).toEqual(['h0']);
      expect(s.placement.a!.hosts, backend).toEqual(['h1']);
    }
  });

  it('gets the same optimum from both exact backends, never below the bound the heuristic proves', async () => {
    for (const seed of [3, 11]) {
      const p = syntheticProblem({ endpoints: 8, hosts: 3, seed });
      const a = await solve(p, { backend: 'lp-solver', timeLimitMs: 20_000 });
      const b = await solve(p, { backend: 'highs', timeLimitMs: 20_000 });
      const h = await solve(p, { backend: 'heuristic' });
      expect(a.optimal && b.optimal).toBe(true);
      expect(a.objective).toBeCloseTo(b.objective, 3);
      expect(h.bound).toBeLessThanOrEqual(b.objective * (1 + 1e-9));
      expect(h.objective).toBeGreaterThanOrEqual(b.objective * (1 - 1e-9));
    }
  });

  it('re-solves from the previous answer after one endpoint moves, and reuses its prices', async () => {
    const p = syntheticProblem({ endpoints: 120, hosts: 10, seed: 7 });
    const first = await solve(p, { backend: 'heuristic' });
    expect(first.prices).toBeDefined();
    const moved = structuredClone(p);
    const e = moved.endpoints[0]!;
    e.ratePerOrigin = [...e.ratePerOrigin.slice(1), e.ratePerOrigin[0]!];
    const again = await solve(moved, { backend: 'heuristic', previous: first, timeLimitMs: 100 });
    expect(violations(moved, again.placement)).toEqual([]);
    expect(again.bound).toBeLessThanOrEqual(again.objective);
    const same = await solve(p, { backend: 'heuristic', previous: first });
    expect(same.objective).toBeLessThanOrEqual(first.objective * (1 + 1e-9));
  });

  it('takes its clock from the caller', async () => {
    const s = await solve(syntheticProblem({ endpoints: 30, hosts: 4, seed: 5 }), {
      backend: 'heuristic',
      now: () => 0,
    });
    expect(s.timeMs).toBe(0);
    expect(violations(syntheticProblem({ endpoints: 30, hosts: 4, seed: 5 }), s.placement)).toEqual([]);
  });
});

describe('infeasible and malformed problems', () => {
  it('names the endpoint no host may run, with each host reason', async () => {
    const p = tiny();
    p.endpoints[0]!.policy = { pinnedTier: 'device' };
    const err = await solve(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfeasibleError);
    expect((err as InfeasibleError).code).toBe('ROAM_ERR_SOLVER_INFEASIBLE');
    expect((err as InfeasibleError).reasons).toEqual([
      'a may run on no host: pinned to tier device, host is cluster (h0); pinned to tier device, host is edge (h1)',
    ]);
  });

  it('names the endpoint too big for every host, and groups that cannot fit together', () => {
    const p = tiny();
    p.endpoints[1]!.memoryMib = 500;
    expect(explainInfeasible(p)).toEqual([
      'b fits on none of the hosts it may use (h0 needs 10 mCPU, 500 MiB, has 1000 mCPU, 100 MiB; h1 needs 10 mCPU, 500 MiB, has 1000 mCPU, 100 MiB)',
    ]);
    const q = tiny();
    for (const e of q.endpoints) e.policy = { pinnedHosts: ['h0'] };
    q.endpoints.forEach((e) => {
      e.memoryMib = 60;
    });
    expect(explainInfeasible(q)).toEqual([
      'a, b may only use hosts h0, and need 120 MiB there together: 100 MiB is free',
    ]);
  });

  it('refuses a malformed problem with the field at fault', async () => {
    const p = tiny();
    p.endpoints[0]!.calls = [{ to: 'ghost', perRequest: 1, bytesPerCall: 0 }];
    await expect(solve(p)).rejects.toMatchObject({
      code: 'ROAM_ERR_SOLVER_INVALID_PROBLEM',
      message: expect.stringContaining('"ghost"'),
    });
    const q = tiny();
    q.endpoints[0]!.calls = [{ to: 'b', perRequest: 1, bytesPerCall: 0 }];
    q.endpoints[1]!.calls = [{ to: 'a', perRequest: 1, bytesPerCall: 0 }];
    await expect(solve(q)).rejects.toMatchObject({ code: 'ROAM_ERR_SOLVER_INVALID_PROBLEM' });
  });
});

describe('routes', () => {
  it('carry a placement as host indices and back, leaving out endpoints on hosts the problem lacks', async () => {
    const p = syntheticProblem({ endpoints: 40, hosts: 6, seed: 2 });
    const s = await solve(p, { backend: 'heuristic', timeLimitMs: 500 });
    expect(placementFromRoutes(p, routesFromPlacement(p, s.placement))).toEqual(s.placement);
    // An earlier placement: one endpoint's host is gone, another endpoint is new to the problem.
    const gone = Object.keys(s.placement)[0]!;
    const earlier = { ...s.placement, [gone]: { hosts: ['retired'], route: p.sites.map(() => 'retired') } };
    delete earlier[Object.keys(s.placement)[1]!];
    const back = placementFromRoutes(p, routesFromPlacement(p, earlier));
    expect(Object.keys(back).sort()).toEqual(Object.keys(s.placement).slice(2).sort());
  });
});
