// HiGHS (compiled to Wasm) on the placement MILP or its LP relaxation. The runtime loads once per process and
// is shared; every solve builds its own model from sparse arrays (no LP text to parse) and disposes of it,
// since Wasm memory is not garbage-collected and leaked models would grow it for the life of the process.
import { createRequire } from 'node:module';
import type { Highs } from 'highs';
import type { Milp } from '../formulation.ts';
import type { BackendResult } from './result.ts';

// The package's types describe its ESM build while TypeScript resolves it as CommonJS; require() sidesteps the
// mismatch and loads the same loader function.
const highsLoader = createRequire(import.meta.url)('highs') as () => Promise<Highs>;
let runtime: Promise<Highs> | undefined;

export function loadHighs(): Promise<Highs> {
  if (runtime === undefined) {
    // A failed load is forgotten, so the next solve tries again.
    runtime = highsLoader().catch((err: unknown) => {
      runtime = undefined;
      throw err;
    });
  }
  return runtime;
}

export interface HighsOptions {
  /** Solve the LP relaxation instead of the MILP. */
  relax: boolean;
  timeLimitMs: number;
  /** Relative gap at which the MILP stops. */
  gap: number;
  /** A feasible starting solution (column values). */
  start?: Float64Array;
}

/** What HiGHS is handed at most, in absolute value, as a cost or a matrix entry (about 1e6). */
const SCALE_TARGET = 2 ** 20;

/** The power of two that brings `max` down to SCALE_TARGET at most (1 if it is there already). */
function scaleFor(max: number): number {
  return max > SCALE_TARGET ? 2 ** -Math.ceil(Math.log2(max / SCALE_TARGET)) : 1;
}

/**
 * The model as HiGHS is handed it. HiGHS reads a cost of 1e20 or more as infinite (`infinite_cost`), refuses a
 * matrix entry of 1e15 or more (`large_matrix_value`: the model is in error, no answer), and its tolerances
 * are absolute; in-range inputs give costs up to 1e39 and CPU loads up to 1e18 (docs/solver.md, ranges). So
 * the costs are divided by the power of two that brings the largest to about 1e6, and so is each row whose
 * entries exceed that, with its bounds: a power of two scales exactly, nothing is rounded on the way, and the
 * objective and bound are multiplied back (`unscale`). Entries a row's scale makes negligible are dropped by
 * HiGHS, which only loosens a capacity row: bounds stay valid, and every placement is checked on our side.
 */
function conditioned(m: Milp): {
  colCost: Float64Array;
  values: Float64Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  unscale: number;
} {
  let maxCost = 0;
  for (const c of m.colCost) maxCost = Math.max(maxCost, Math.abs(c));
  const costScale = scaleFor(maxCost);
  const values = Float64Array.from(m.values);
  const rowLower = Float64Array.from(m.rowLower);
  const rowUpper = Float64Array.from(m.rowUpper);
  for (let r = 0; r < m.numRows; r++) {
    let max = 0;
    for (let i = m.starts[r]!; i < m.starts[r + 1]!; i++) max = Math.max(max, Math.abs(values[i]!));
    const k = scaleFor(max);
    if (k === 1) continue;
    for (let i = m.starts[r]!; i < m.starts[r + 1]!; i++) values[i] = values[i]! * k;
    rowLower[r] = rowLower[r]! * k;
    rowUpper[r] = rowUpper[r]! * k;
  }
  return {
    colCost: costScale === 1 ? m.colCost : m.colCost.map((c) => c * costScale),
    values,
    rowLower,
    rowUpper,
    unscale: 1 / costScale,
  };
}

export async function solveWithHighs(m: Milp, o: HighsOptions): Promise<BackendResult> {
  const highs = await loadHighs();
  const { modelStatus } = highs.constants;
  const inf = highs.infinity;
  const finite = (a: Float64Array) =>
    a.map((v) => (v === Number.POSITIVE_INFINITY ? inf : v === Number.NEGATIVE_INFINITY ? -inf : v));
  const c = conditioned(m);
  return highs.withModel(
    {
      numCols: m.numCols,
      numRows: m.numRows,
      colCost: c.colCost,
      colLower: new Float64Array(m.numCols),
      colUpper: finite(m.colUpper),
      rowLower: finite(c.rowLower),
      rowUpper: finite(c.rowUpper),
      matrix: {
        format: 'csr',
        numRows: m.numRows,
        numCols: m.numCols,
        starts: m.starts,
        indices: m.indices,
        values: c.values,
      },
      ...(o.relax ? {} : { integrality: Int32Array.from(m.integer) }),
    },
    (model): BackendResult => {
      model.options.set({
        output_flag: false,
        time_limit: Math.max(0.01, o.timeLimitMs / 1000),
        mip_rel_gap: o.gap,
      });
      if (o.start && !o.relax) model.setSolution({ colValue: o.start });
      model.run();
      const status = model.getModelStatus();
      if (status === modelStatus.infeasible) return { status: 'infeasible' };
      const values = model.getSolution().colValue;
      const hasSolution = values.length === m.numCols && model.info.get('primal_solution_status') === 2;
      const objective = model.getObjectiveValue() * c.unscale;
      if (o.relax) {
        return status === modelStatus.optimal
          ? { status: 'optimal', values, objective, bound: objective }
          : { status: 'limit' };
      }
      const bound = Number(model.info.get('mip_dual_bound'));
      const proven = Number.isFinite(bound) && bound > -inf ? { bound: bound * c.unscale } : {};
      if (!hasSolution) return { status: 'limit', ...proven };
      return {
        status: status === modelStatus.optimal ? 'optimal' : 'feasible',
        values,
        objective,
        ...proven,
      };
    },
  );
}
