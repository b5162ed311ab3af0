// "Infeasible" only with a proof: a strategy whose search packs no placement asks an exact check (HiGHS)
// before it reports infeasible, and returns the placement the check finds.
import { describe, expect, it } from 'vitest';
import { InfeasibleError, solve, violations } from '../index.ts';
import { searchPacksNothing } from './hard-instances.ts';

describe('no false "infeasible"', () => {
  it.each(['heuristic', 'highs-relaxation'] as const)(
    '%s returns a valid placement where its search packed none, within the proven bounds',
    async (backend) => {
      const problem = searchPacksNothing();
      const optimum = await solve(problem, { backend: 'highs', timeLimitMs: 10_000 });
      const s = await solve(problem, { backend, timeLimitMs: 2000 });
      expect(violations(problem, s.placement)).toEqual([]);
      expect(s.notes.join(' ')).toMatch(/exact check/);
      expect(Number.isFinite(s.objective)).toBe(true);
      expect(s.bound).toBeLessThanOrEqual(optimum.objective * (1 + 1e-6));
      expect(s.objective).toBeGreaterThanOrEqual(optimum.bound * (1 - 1e-6));
    },
  );

  it('still reports infeasible, with its reasons, when nothing fits', async () => {
    const problem = searchPacksNothing();
    for (const h of problem.hosts) h.memoryMib = 1;
    for (const backend of ['heuristic', 'highs-relaxation', 'highs', 'auto'] as const) {
      const err = await solve(problem, { backend, timeLimitMs: 1000 }).catch((e: unknown) => e);
      expect(err, backend).toBeInstanceOf(InfeasibleError);
      expect((err as InfeasibleError).reasons.length).toBeGreaterThan(0);
    }
  });
});
