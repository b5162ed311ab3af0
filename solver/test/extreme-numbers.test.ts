// HiGHS on in-range extreme numbers (issue 16): a cost of 1e20 or more is infinite to HiGHS and a matrix entry
// of 1e15 or more puts its model in error, so before solver/backends/highs.ts scaled them, an optimum that
// pays such a cost, or a CPU load that large in a capacity row, got no answer from HiGHS (a time-limit note
// from `highs`, none from `highs-relaxation`). Now both are solved exactly, and agree with the heuristic.
import { describe, expect, it } from 'vitest';
import { type PlacementProblem, type Solution, solve, syntheticProblem, violations } from '../index.ts';

/**
 * 6 endpoints x 3 hosts (seed 1; e0 calls e2, e3 and e4; hosts h0, h1, h2 at three sites), room for anything.
 * e0 is pinned to h0 and e2 to h1, so e0's calls to e2 cross sites and their egress, 1e9 bytes per call at
 * 1e3 per byte with an egress weight of 1e6, puts the optimum above 1e20.
 */
function costAbove1e20(): PlacementProblem {
  const p = syntheticProblem({ endpoints: 6, hosts: 3, seed: 1 });
  for (const h of p.hosts) Object.assign(h, { cpuMillis: 1e9, memoryMib: 1e9 });
  for (const row of Object.values(p.bandwidthCostPerByte)) for (const to of Object.keys(row)) row[to] = 1e3;
  p.weights = { egress: 1e6, migration: 1 };
  const e0 = p.endpoints.find((e) => e.id === 'e0')!;
  e0.policy = { pinnedHosts: ['h0'] };
  for (const c of e0.calls) c.bytesPerCall = 1e9;
  p.endpoints.find((e) => e.id === 'e2')!.policy = { pinnedHosts: ['h1'] };
  return p;
}

/**
 * The same 6x3 instance where e5 gets 1e9 requests/s from each of the three sites, which take 1e6 ms each on
 * the cluster tier (h0) and 1e-6 ms elsewhere: its CPU load on h0, over 3e15 millicores, sits in h0's capacity
 * row beside loads of a few millicores; it fits only on h1 or h2, which have a million cores each.
 */
function loadSpread(): PlacementProblem {
  const p = syntheticProblem({ endpoints: 6, hosts: 3, seed: 1 });
  for (const h of p.hosts) if (h.tier !== 'cluster') Object.assign(h, { cpuMillis: 1e9, memoryMib: 1e9 });
  const e5 = p.endpoints.find((e) => e.id === 'e5')!;
  e5.ratePerOrigin = p.sites.map(() => 1e9);
  e5.cpuMsPerCall = { cluster: 1e6, default: 1e-6 };
  return p;
}

async function solvedBy(p: PlacementProblem, backend: 'highs' | 'highs-relaxation' | 'heuristic') {
  const s: Solution = await solve(p, { backend, timeLimitMs: 5000 });
  expect(violations(p, s.placement), backend).toEqual([]);
  expect(Number.isFinite(s.objective), backend).toBe(true);
  expect(s.bound, backend).toBeLessThanOrEqual(s.objective);
  return s;
}

describe('extreme numbers through HiGHS', () => {
  it.each([
    ['an optimum above 1e20', costAbove1e20, 1e20],
    ['a capacity row with loads from 1e-3 to 3e15', loadSpread, 0],
  ] as const)('solves %s exactly, and the relaxation answers', async (_name, make, above) => {
    const p = make();
    const exact = await solvedBy(p, 'highs');
    const relaxed = await solvedBy(p, 'highs-relaxation');
    const heuristic = await solvedBy(p, 'heuristic');
    expect(exact.objective).toBeGreaterThan(above);
    expect(exact.optimal).toBe(true);
    expect(exact.notes).toEqual([]);
    expect(relaxed.notes).toEqual([]);
    // The proven optimum is no worse than what the heuristic found, and every bound stays below it.
    expect(exact.objective).toBeLessThanOrEqual(heuristic.objective * (1 + 1e-9));
    for (const s of [relaxed, heuristic]) expect(s.bound).toBeLessThanOrEqual(exact.objective * (1 + 1e-9));
  });
});
