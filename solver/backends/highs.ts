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

export async function solveWithHighs(m: Milp, o: HighsOptions): Promise<BackendResult> {
  const highs = await loadHighs();
  const { modelStatus } = highs.constants;
  const inf = highs.infinity;
  const finite = (a: Float64Array) =>
    a.map((v) => (v === Number.POSITIVE_INFINITY ? inf : v === Number.NEGATIVE_INFINITY ? -inf : v));
  return highs.withModel(
    {
      numCols: m.numCols,
      numRows: m.numRows,
      colCost: m.colCost,
      colLower: new Float64Array(m.numCols),
      colUpper: finite(m.colUpper),
      rowLower: finite(m.rowLower),
      rowUpper: finite(m.rowUpper),
      matrix: {
        format: 'csr',
        numRows: m.numRows,
        numCols: m.numCols,
        starts: m.starts,
        indices: m.indices,
        values: m.values,
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
      if (o.relax) {
        return status === modelStatus.optimal
          ? {
              status: 'optimal',
              values,
              objective: model.getObjectiveValue(),
              bound: model.getObjectiveValue(),
            }
          : { status: 'limit' };
      }
      const bound = Number(model.info.get('mip_dual_bound'));
      const proven = Number.isFinite(bound) && bound > -inf ? { bound } : {};
      if (!hasSolution) return { status: 'limit', ...proven };
      return {
        status: status === modelStatus.optimal ? 'optimal' : 'feasible',
        values,
        objective: model.getObjectiveValue(),
        ...proven,
      };
    },
  );
}
