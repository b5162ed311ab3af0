// The Lagrangian bound is a valid lower bound that reaches the LP relaxation's, and the placement decoded from
// it is feasible and close to it; the exact price line search picks the right threshold.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { solveWithHighs } from '../backends/highs.ts';
import { lagrangianBound, weightedThreshold } from '../bound.ts';
import { compile } from '../compile.ts';
import { formulate } from '../formulation.ts';
import { fromBeliefs } from '../heuristic.ts';
import { solve, syntheticProblem, violations } from '../index.ts';
import { toPlacement } from '../placement.ts';

/** A clock that never moves: every loop runs until it settles, so results do not depend on the machine. */
const frozen = () => 0;

describe('lagrangian bound', () => {
  it('stays below the LP relaxation and comes within 0.1 % of it', async () => {
    for (const seed of [42, 7]) {
      const x = compile(syntheticProblem({ endpoints: 60, hosts: 6, seed }));
      const lp = await solveWithHighs(formulate(x, false), { relax: true, timeLimitMs: 30_000, gap: 1e-9 });
      expect(lp.status).toBe('optimal');
      const r = lagrangianBound(x, frozen, 1);
      expect(r.bound).toBeLessThanOrEqual(lp.bound! * (1 + 1e-9));
      expect(r.bound).toBeGreaterThan(lp.bound! * 0.999);
    }
  });

  it('decodes to a feasible placement within 1 % of the bound at 200 x 10', () => {
    const p = syntheticProblem({ endpoints: 200, hosts: 10, seed: 42 });
    const x = compile(p);
    const r = lagrangianBound(x, frozen, 1);
    const s = fromBeliefs(x, r.belief, r.prices.pairs);
    expect(s.unplaced()).toEqual([]);
    expect(violations(p, toPlacement(x, s))).toEqual([]);
    expect(s.total()).toBeLessThan(r.bound * 1.01);
  });

  it('is restarted from the previous prices, and then needs fewer rounds', () => {
    const x = compile(syntheticProblem({ endpoints: 150, hosts: 8, seed: 3 }));
    const cold = lagrangianBound(x, frozen, 1);
    const again = lagrangianBound(x, frozen, 1, { warm: cold.prices, maxIterations: 2 });
    expect(again.bound).toBeGreaterThanOrEqual(cold.bound * (1 - 1e-9));
    expect(lagrangianBound(x, frozen, 1, { maxIterations: 2 }).bound).toBeLessThan(again.bound);
  });
});

describe('solve at scale', () => {
  it('answers 1000 x 20 within 1 % of its proven bound when given time to settle', async () => {
    const p = syntheticProblem({ endpoints: 1000, hosts: 20, seed: 42 });
    const s = await solve(p, { backend: 'heuristic', now: frozen });
    expect(violations(p, s.placement)).toEqual([]);
    expect(s.gap).toBeLessThan(0.01);
  });
});

describe('weightedThreshold', () => {
  it('is the highest break whose breaks at or above it weigh more than the room', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 10 })), {
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 200 }),
        (items, room) => {
          const breaks = Float64Array.from(items, ([b]) => b);
          const weights = Float64Array.from(items, ([, w]) => w);
          const expected = [...new Set(items.map(([b]) => b))]
            .sort((a, b) => b - a)
            .find((t) => items.filter(([b]) => b >= t).reduce((n, [, w]) => n + w, 0) > room);
          expect(weightedThreshold(breaks, weights, items.length, room)).toBe(expected ?? 0);
        },
      ),
      { numRuns: 200, seed: 11 },
    );
  });
});
