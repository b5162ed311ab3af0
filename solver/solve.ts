// The solver's entry point: validates and compiles the problem, builds a start with the heuristic (from the
// previous answer when there is one), runs the backend that fits the instance's size, and reports the best
// placement with its cost recomputed from it, a proven lower bound, the gap and the time (docs/solver.md).
// Pure apart from the clock, which the caller may inject.
import { solveWithHighs } from './backends/highs.ts';
import { solveWithLpSolver } from './backends/lp-solver.ts';
import type { BackendResult } from './backends/result.ts';
import { lagrangianBound } from './bound.ts';
import { compile, type Instance } from './compile.ts';
import { InfeasibleError, SolverBackendError } from './errors.ts';
import { columnsOf, formulate, milpSize } from './formulation.ts';
import { greedy, improve } from './heuristic.ts';
import { obstacles } from './infeasible.ts';
import { evaluate } from './model.ts';
import { fromPlacement, toPlacement } from './placement.ts';
import type { Backend, Placement, PlacementProblem, Prices, Solution } from './problem.ts';
import { round } from './rounding.ts';
import type { State } from './state.ts';
import { validate } from './validate.ts';

export interface SolveOptions {
  /** Default 'auto': chosen by the MILP's size (docs/solver.md). */
  backend?: Backend;
  /** Budget for the whole solve, in ms of the `now` clock (default 1000). */
  timeLimitMs?: number;
  /** The previous answer: the search starts from its placement and the bound from its prices. */
  previous?: { placement: Placement; prices?: Prices };
  /** The clock, in ms (default performance.now). */
  now?: () => number;
}

/** MILP sizes (columns, see milpSize) up to which each backend is the default; measured in docs/solver.md. */
export const AUTO_LIMITS = { lpSolver: 150, highs: 1000, relaxation: 10_000 };

/** The exact backends stop at this relative gap. */
const MIP_GAP = 1e-6;

export function chooseBackend(x: Instance): Exclude<Backend, 'auto'> {
  const size = milpSize(x);
  if (size <= AUTO_LIMITS.lpSolver) return 'lp-solver';
  if (size <= AUTO_LIMITS.highs) return 'highs';
  if (size <= AUTO_LIMITS.relaxation) return 'highs-relaxation';
  return 'heuristic';
}

export async function solve(p: PlacementProblem, options: SolveOptions = {}): Promise<Solution> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const budget = options.timeLimitMs ?? 1000;
  const deadline = started + budget;
  const at = (share: number) => started + budget * share;
  validate(p);
  const x = compile(p);
  const blocked = obstacles(x);
  if (blocked.length > 0) throw new InfeasibleError(blocked);
  const backend =
    options.backend === undefined || options.backend === 'auto' ? chooseBackend(x) : options.backend;
  const notes: string[] = [];

  // The start: greedy (kept from the previous placement where it still fits), then local search.
  const start = options.previous ? fromPlacement(x, options.previous.placement) : undefined;
  const first = greedy(x, start);
  let best: State | undefined = feasible(first) ?? feasible(greedy(x, start, true));
  const stuck = first.unplaced();
  const exact = backend === 'lp-solver' || backend === 'highs';
  if (best) improve(best, now, at(backend === 'heuristic' ? 0.3 : 0.1));
  let bound = Number.NEGATIVE_INFINITY;
  let prices: Prices | undefined;
  let optimal = false;

  const lagrangian = (until: number) => {
    const r = lagrangianBound(
      x,
      best?.total() ?? Number.POSITIVE_INFINITY,
      now,
      until,
      options.previous?.prices,
    );
    bound = Math.max(bound, r.bound);
    prices = r.prices;
    return r;
  };

  if (exact) {
    // A bound of its own first (cheap at these sizes), in case the backend stops without a proof.
    lagrangian(at(0.3));
    const m = formulate(x, true);
    const limit = Math.max(1, deadline - now());
    const r = await runBackend(backend, () =>
      backend === 'lp-solver'
        ? solveWithLpSolver(m, limit, now)
        : solveWithHighs(m, {
            relax: false,
            timeLimitMs: limit,
            gap: MIP_GAP,
            ...(best ? { start: columnsOf(x, m, best) } : {}),
          }),
    );
    if (r.status === 'infeasible')
      throw new InfeasibleError(obstacles(x, stuck.length > 0 ? stuck : allAgents(x)));
    if (r.values) best = cheaper(best, round(x, m, r.values));
    if (r.bound !== undefined) bound = Math.max(bound, r.bound * (1 - MIP_GAP) - 1e-9);
    optimal = r.status === 'optimal';
    if (!optimal) notes.push(`${backend} stopped at its time limit without proving optimality`);
  } else if (backend === 'highs-relaxation') {
    // The Lagrangian bound first: it stands if the LP does not finish in time.
    lagrangian(at(0.2));
    const m = formulate(x, false);
    const r = await runBackend(backend, () =>
      solveWithHighs(m, { relax: true, timeLimitMs: Math.max(1, at(0.8) - now()), gap: MIP_GAP }),
    );
    if (r.status === 'infeasible')
      throw new InfeasibleError(obstacles(x, stuck.length > 0 ? stuck : allAgents(x)));
    if (r.values && r.bound !== undefined) {
      bound = Math.max(bound, r.bound - 1e-9 * Math.abs(r.bound));
      const rounded = round(x, m, r.values);
      if (feasible(rounded)) improve(rounded, now, deadline);
      best = cheaper(best, rounded);
    } else {
      notes.push('the LP relaxation did not finish in time; the bound is the Lagrangian one');
      if (best) improve(best, now, deadline);
    }
  } else {
    // Heuristic: the Lagrangian bound, and its priced assignment repaired as a second start.
    const r = lagrangian(at(options.previous ? 0.8 : 0.6));
    const second = feasible(greedy(x, r.assignment));
    if (second && !options.previous) {
      improve(second, now, deadline);
      best = cheaper(best, second);
    }
    if (best) improve(best, now, deadline);
  }

  if (!best) throw new InfeasibleError(obstacles(x, stuck));
  const placement = toPlacement(x, best);
  const cost = evaluate(p, placement);
  const objective = cost.total;
  bound = Math.min(Math.max(bound, 0), objective);
  return {
    placement,
    objective,
    cost,
    bound,
    gap: objective > 0 ? (objective - bound) / objective : 0,
    optimal,
    timeMs: now() - started,
    backend,
    notes,
    ...(prices ? { prices } : {}),
  };

  async function runBackend(
    name: string,
    run: () => BackendResult | Promise<BackendResult>,
  ): Promise<BackendResult> {
    try {
      return await run();
    } catch (err) {
      if (options.backend === name)
        throw new SolverBackendError(`${name} failed: ${String(err)}`, { cause: err });
      notes.push(`${name} failed (${String(err)}); the heuristic's answer stands`);
      return { status: 'limit' };
    }
  }
}

function feasible(s: State): State | undefined {
  return s.unplaced().length === 0 ? s : undefined;
}

function cheaper(a: State | undefined, b: State | undefined): State | undefined {
  if (!b || b.unplaced().length > 0) return a;
  if (!a) return b;
  return b.total() < a.total() ? b : a;
}

function allAgents(x: Instance): number[] {
  return [...Array(x.A).keys()];
}
