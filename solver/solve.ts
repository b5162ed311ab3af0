// The solver's entry point: validates and compiles the problem, builds a start with the heuristic (from the
// previous answer when there is one), runs the backend that fits the instance's size, and reports the best
// placement with its cost recomputed from it, a proven lower bound, the gap and the time (docs/solver.md).
// Pure apart from the clock, which the caller may inject.
import { loadHighs, solveWithHighs } from './backends/highs.ts';
import { solveWithLpSolver } from './backends/lp-solver.ts';
import type { BackendResult } from './backends/result.ts';
import { lagrangianBound, trivialBound } from './bound.ts';
import { compile, type Instance } from './compile.ts';
import { InfeasibleError, SolverBackendError } from './errors.ts';
import { columnsOf, formulate, milpSize } from './formulation.ts';
import { fromBeliefs, greedy, improve } from './heuristic.ts';
import { obstacles } from './infeasible.ts';
import { evaluate } from './model.ts';
import { fromPlacement, toPlacement, toRoutes } from './placement.ts';
import type { Backend, Placement, PlacementProblem, Prices, Solution } from './problem.ts';
import { round } from './rounding.ts';
import type { State } from './state.ts';
import { validate, validateOptions } from './validate.ts';

export interface SolveOptions {
  /** Default 'auto': chosen by the MILP's size (docs/solver.md). */
  backend?: Backend;
  /** Budget for the whole solve, in ms of the `now` clock (default 1000). */
  timeLimitMs?: number;
  /** The previous answer: the search starts from its placement and the bound from its prices. */
  previous?: { placement: Placement; prices?: Prices };
  /** The clock, in ms (default performance.now). */
  now?: () => number;
  /**
   * Told each better complete placement as the search finds it, the greedy start's first, as routes (host
   * index per endpoint and origin site; `placementFromRoutes` turns them into a Placement): a caller that may
   * have to stop the solve before it returns (control-plane/off-thread-solver.ts) keeps the latest.
   */
  onRoutes?: (routes: Int32Array) => void;
}

/**
 * MILP sizes (columns, see milpSize) up to which each exact backend is the default; past them the heuristic,
 * which reaches the LP relaxation's bound sooner than HiGHS solves the LP (measured in docs/solver.md).
 * javascript-lp-solver is never chosen: it checks its time limit only between branches and its simplex can
 * cycle, so it ran for minutes past a 1 s limit on some 10x4 and 16x4 instances HiGHS solves in 0.4 s.
 */
export const AUTO_LIMITS = { lpSolver: 0, highs: 1000 };

/** The exact backends stop at this relative gap. */
const MIP_GAP = 1e-6;

/** Share of a cold heuristic solve's time left after compiling that the bound may take (it stops once settled). */
const COLD_BOUND_SHARE = 0.7;

/**
 * Shares of a re-solve's search time: the search from the previous placement gets this much at most, the
 * warm-priced bound the rest (at 2000x50 its set-up alone takes ~15 ms).
 */
const WARM_SEARCH_SHARE = 0.7;
/**
 * Share of the budget an exact backend chosen by `auto` gets on a re-solve: it starts from the previous
 * placement, improved, and at the sizes it is chosen for (50x4) needs 0.4-0.7 s to prove a small change, more
 * than the placement loop gives a re-solve; what it finds in this time is kept, with its proven gap.
 */
const WARM_EXACT_SHARE = 0.3;

export function chooseBackend(x: Instance): Exclude<Backend, 'auto'> {
  const size = milpSize(x);
  if (size <= AUTO_LIMITS.lpSolver) return 'lp-solver';
  if (size <= AUTO_LIMITS.highs) return 'highs';
  return 'heuristic';
}

/** Loads what a first solve would otherwise load on its clock (HiGHS's WebAssembly build). */
export async function warmUp(): Promise<void> {
  await loadHighs().catch(() => {});
}

export async function solve(p: PlacementProblem, options: SolveOptions = {}): Promise<Solution> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  validateOptions(options);
  const budget = options.timeLimitMs ?? 1000;
  const at = (share: number) => started + budget * share;
  validate(p);
  const compiling = now();
  const x = compile(p);
  // Converting and costing the answer at the end takes about as long as compiling did: kept off the search.
  const searchEnd = Math.min(at(0.96), started + budget - (now() - compiling));
  const backend =
    options.backend === undefined || options.backend === 'auto' ? chooseBackend(x) : options.backend;
  const notes: string[] = [];

  // The start: greedy (kept from the previous placement where it still fits), posted at once so a solve
  // stopped early still has a placement. Warm, it is the start to search from; cold, it is a fallback, searched
  // last, and the search starts from the placement decoded from the bound.
  const start = options.previous ? fromPlacement(x, options.previous.placement) : undefined;
  const first = greedy(x, start);
  const fallback = feasible(first) ?? feasible(greedy(x, start, true));
  let best: State | undefined = fallback;
  let offered = Number.POSITIVE_INFINITY;
  const offer = () => {
    if (!options.onRoutes || !best || best.unplaced().length > 0 || best.total() >= offered) return;
    offered = best.total();
    options.onRoutes(toRoutes(x, best));
  };
  offer();
  // A placement proves there is no obstacle; without one, the obvious ones are named before any search.
  if (!fallback) {
    const blocked = obstacles(x);
    if (blocked.length > 0) throw new InfeasibleError(blocked);
  }
  const stuck = first.unplaced();
  const exact = backend === 'lp-solver' || backend === 'highs';
  // A re-solve searches from the previous placement until the search converges, where the change left
  // something to gain (compound moves only around what moved); the previous placement is the better start
  // than one decoded again, and the loop's budget is short.
  const warm = best !== undefined && options.previous !== undefined;
  if (best && warm) improve(best, now, started + (searchEnd - started) * WARM_SEARCH_SHARE, false);
  offer();
  let bound = Number.NEGATIVE_INFINITY;
  let prices: Prices | undefined;
  let optimal = false;

  /**
   * The Lagrangian bound, and the placement decoded from its priced beliefs as a second start. Warm, the bound
   * restarts from the previous prices, and nothing is decoded.
   */
  const lagrangian = (until: number, searchUntil: number) => {
    if (now() >= until) {
      // No time for it (compiling took the budget, on a busy machine): the bound that costs nothing.
      bound = Math.max(bound, trivialBound(x));
      prices ??= options.previous?.prices;
      return;
    }
    const r = lagrangianBound(x, now, until, {
      ...(options.previous?.prices ? { warm: options.previous.prices } : {}),
      // A re-solve continues the ascent where the last solve left it, a round each time, with one pass of
      // price line searches (the prices are near their best): a round moves the bound by a few hundredths of
      // a percent and costs ~10 ms at 2000x50 (~20 ms with the cold rounds' five passes).
      ...(warm ? { maxIterations: 1, pricePasses: 1 } : {}),
    });
    bound = Math.max(bound, r.bound);
    prices = r.prices;
    if (warm) return;
    const decoded = feasible(fromBeliefs(x, r.belief, r.prices.pairs));
    if (decoded) improve(decoded, now, searchUntil);
    best = cheaper(fallback, decoded);
    // Smaller instances have time left to search from the other decoding order and from the greedy too; the
    // cheapest stands.
    if (now() < searchUntil) {
      const chained = feasible(fromBeliefs(x, r.belief, r.prices.pairs, true));
      if (chained) improve(chained, now, searchUntil);
      best = cheaper(best, chained);
    }
    if (fallback && now() < searchUntil) improve(fallback, now, searchUntil);
    best = cheaper(best, fallback);
    offer();
  };

  if (exact) {
    // A bound and a start of its own first (cheap at these sizes), in case the backend stops without a proof.
    // From now, not from the start: compiling and a re-solve's search may have taken the first 5 % already.
    const t = now();
    lagrangian(t + budget * 0.05, t + budget * 0.08);
    const m = formulate(x, true);
    const auto = options.backend === undefined || options.backend === 'auto';
    const limit = Math.max(1, Math.min(searchEnd, warm && auto ? at(WARM_EXACT_SHARE) : searchEnd) - now());
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
      throw new InfeasibleError(obstacles(x, stuck.length > 0 ? stuck : allAgents(x), true));
    if (r.values) best = cheaper(best, round(x, m, r.values));
    offer();
    if (r.bound !== undefined) bound = Math.max(bound, r.bound * (1 - MIP_GAP) - 1e-9);
    optimal = r.status === 'optimal';
    if (!optimal) notes.push(`${backend} stopped at its time limit without proving optimality`);
  } else if (backend === 'highs-relaxation') {
    // The Lagrangian bound and its placement first: they stand if the LP does not finish in time.
    lagrangian(at(0.2), at(0.3));
    const m = formulate(x, false);
    const r = await runBackend(backend, () =>
      solveWithHighs(m, { relax: true, timeLimitMs: Math.max(1, at(0.8) - now()), gap: MIP_GAP }),
    );
    if (r.status === 'infeasible')
      throw new InfeasibleError(obstacles(x, stuck.length > 0 ? stuck : allAgents(x), true));
    if (r.values && r.bound !== undefined) {
      bound = Math.max(bound, r.bound - 1e-9 * Math.abs(r.bound));
      const rounded = round(x, m, r.values);
      if (feasible(rounded)) improve(rounded, now, searchEnd);
      best = cheaper(best, rounded);
      offer();
    } else notes.push('the LP relaxation did not finish in time; the bound is the Lagrangian one');
  } else {
    // Heuristic: the Lagrangian bound (it stops early once settled) in most of the time left, then local
    // search from its placement. The placement decoded from a better settled bound is the better start: at
    // 2000x50 a 70 % share ends 0.6-0.8 % from the bound where half did 0.9-1.1 % (medians over seeds 1-5,
    // interleaved runs on a busy machine). A share of what is left rather than of the budget: compiling takes
    // long on a busy machine, and a bound with no round in it is far from the optimum.
    lagrangian(warm ? searchEnd : now() + (searchEnd - now()) * COLD_BOUND_SHARE, searchEnd);
  }
  // A warm heuristic re-solve has converged already, and has found nothing new since.
  if (best && !(warm && backend === 'heuristic')) improve(best, now, searchEnd);

  if (!best && !exact) {
    // The search packed no placement, which proves nothing: an exact check decides before anyone is told
    // "infeasible". HiGHS looks for any placement (gap 1: the first it finds) in what is left of the budget.
    const m = formulate(x, true);
    const r = await runBackend('highs', () =>
      solveWithHighs(m, { relax: false, timeLimitMs: Math.max(1, at(1) - now()), gap: 1 }),
    );
    if (r.status === 'infeasible')
      throw new InfeasibleError(obstacles(x, stuck.length > 0 ? stuck : allAgents(x), true));
    const found = r.values ? feasible(round(x, m, r.values)) : undefined;
    if (found) {
      notes.push(`${backend} packed no placement; an exact check (HiGHS) found this one`);
      improve(found, now, Math.max(now(), searchEnd));
      best = found;
    }
  }
  if (!best) throw new InfeasibleError(obstacles(x, stuck));
  const placement = toPlacement(x, best);
  const cost = evaluate(p, placement, x.traffic);
  const objective = cost.total;
  // Validated inputs keep every term finite (docs/solver.md, ranges); this is the promise made to callers.
  if (!Number.isFinite(objective))
    throw new SolverBackendError(`the placement's objective is not a finite number (${objective})`);
  bound = Math.min(Math.max(Number.isFinite(bound) ? bound : 0, 0), objective);
  const gap = objective > 0 ? (objective - bound) / objective : 0;
  return {
    placement,
    objective,
    cost,
    bound,
    gap,
    // Proven optimal only if the reported gap says so too.
    optimal: optimal && gap <= MIP_GAP * 2,
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
