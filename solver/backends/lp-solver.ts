// javascript-lp-solver on the placement MILP: pure JavaScript, quick to start, right for small instances.
// It reports no bound, so an answer counts as proven optimal only when it returned before its time limit.
import { createRequire } from 'node:module';
import type { Milp } from '../formulation.ts';
import type { BackendResult } from './result.ts';

const solver = createRequire(import.meta.url)('javascript-lp-solver') as {
  Solve(model: unknown): Record<string, number | boolean | undefined>;
};

export function solveWithLpSolver(m: Milp, timeLimitMs: number, now: () => number): BackendResult {
  const variables: Record<string, Record<string, number>> = {};
  const constraints: Record<string, { min?: number; max?: number; equal?: number }> = {};
  const binaries: Record<string, 1> = {};
  for (let j = 0; j < m.numCols; j++) {
    variables[`c${j}`] = { cost: m.colCost[j]! };
    if (m.integer[j]) binaries[`c${j}`] = 1;
  }
  for (let i = 0; i < m.numRows; i++) {
    const lo = m.rowLower[i]!;
    const hi = m.rowUpper[i]!;
    constraints[`r${i}`] =
      lo === hi ? { equal: lo } : Number.isFinite(lo) ? { min: lo, max: hi } : { max: hi };
    for (let k = m.starts[i]!; k < m.starts[i + 1]!; k++)
      variables[`c${m.indices[k]!}`]![`r${i}`] = m.values[k]!;
  }
  const started = now();
  const r = solver.Solve({
    optimize: 'cost',
    opType: 'min',
    constraints,
    variables,
    binaries,
    options: { timeout: Math.max(1, Math.floor(timeLimitMs)) },
  });
  const inTime = now() - started < timeLimitMs * 0.95;
  if (!r.feasible) return { status: inTime ? 'infeasible' : 'limit' };
  const values = Float64Array.from({ length: m.numCols }, (_, j) => Number(r[`c${j}`] ?? 0));
  const objective = Number(r.result);
  return inTime
    ? { status: 'optimal', values, objective, bound: objective }
    : { status: 'feasible', values, objective };
}
