// The solver's entry point: validates the problem, builds a warm start with the heuristic, and runs the
// backend that fits the instance's size (docs/solver.md). Every answer reports the objective recomputed from
// the placement, a proven lower bound, the gap and the time. Pure apart from the clock, which the caller may
// inject.
import { createRequire } from 'node:module';
import { InfeasibleError, InvalidProblemError } from './errors.ts';
import { cutConstant, formulate, toJsLpModel, toLpText, xName } from './formulation.ts';
import {
  type Assignment,
  fromPlacement,
  greedy,
  improve,
  type Tables,
  tables,
  toPlacement,
} from './heuristic.ts';
import { lagrangianBound } from './lagrangian.ts';
import { disallowed, evaluate, indexProblem, pairCost, violations } from './model.ts';
import type { Placement, PlacementProblem, Solution } from './problem.ts';

export type Backend = 'auto' | 'heuristic' | 'lp-solver' | 'highs' | 'highs-relaxation';

export interface SolveOptions {
  backend?: Backend;
  /** Budget for the whole solve. */
  timeLimitMs?: number;
  /** The previous placement: the search starts from it (a re-solve after a small change is then fast). */
  warmStart?: Placement;
  /** The clock, in ms. */
  now?: () => number;
}

const require = createRequire(import.meta.url);
const jsLpSolver = require('javascript-lp-solver') as {
  Solve(model: unknown): Record<string, number | boolean>;
};

interface Highs {
  solve(
    lp: string,
    options?: Record<string, unknown>,
  ): {
    Status: string;
    ObjectiveValue: number;
    Columns: Record<string, { Primal: number }>;
  };
}
let highsInstance: Promise<Highs> | undefined;
function highs(): Promise<Highs> {
  highsInstance ??= import('highs').then((m) => (m.default as unknown as () => Promise<Highs>)());
  return highsInstance;
}

/** Below these sizes (endpoints x hosts) the exact backends are used by default. */
const JS_LP_MAX = 300;
const HIGHS_MILP_MAX = 3000;
/** Call-graph terms are linearised exactly while edges x sites^2 stays below this. */
const PAIR_TERMS_MAX = 20_000;
/** The relaxation carries cut terms for the calls while edges x sites stays below this (beyond, HiGHS needs
 * more than a second for the LP on this machine, measured at 1000x20). */
const CUT_TERMS_MAX = 3000;

function validate(p: PlacementProblem): void {
  const n = p.sites.length;
  if (p.rttMs.length !== n || p.rttMs.some((row) => row.length !== n)) {
    throw new InvalidProblemError(`rttMs must be a ${n}x${n} matrix (one row and column per site)`);
  }
  if (p.rttMs.some((row) => row.some((v) => !(v >= 0))))
    throw new InvalidProblemError('round trips must be >= 0');
  const hosts = new Set<string>();
  for (const h of p.hosts) {
    if (hosts.has(h.id)) throw new InvalidProblemError(`host id "${h.id}" appears twice`);
    hosts.add(h.id);
    if (!(h.site >= 0 && h.site < n))
      throw new InvalidProblemError(`host ${h.id} has site ${h.site}, not one of 0..${n - 1}`);
    if (!(h.cpuMillis >= 0) || !(h.memoryMib >= 0))
      throw new InvalidProblemError(`host ${h.id} has negative capacity`);
  }
  const stores = new Set(p.stores.map((s) => s.id));
  const endpoints = new Set<string>();
  for (const e of p.endpoints) {
    if (endpoints.has(e.id)) throw new InvalidProblemError(`endpoint id "${e.id}" appears twice`);
    endpoints.add(e.id);
    if (e.ratePerSite.length !== n || e.ratePerSite.some((r) => !(r >= 0))) {
      throw new InvalidProblemError(`endpoint ${e.id}: ratePerSite needs ${n} non-negative rates`);
    }
    for (const a of e.stores)
      if (!stores.has(a.store))
        throw new InvalidProblemError(`endpoint ${e.id} uses unknown store "${a.store}"`);
  }
  for (const e of p.endpoints) {
    for (const c of e.calls)
      if (!endpoints.has(c.to))
        throw new InvalidProblemError(`endpoint ${e.id} calls unknown endpoint "${c.to}"`);
  }
}

/** Why each endpoint in `stuck` cannot be placed, host by host. */
export function explainInfeasible(p: PlacementProblem, stuck: number[], t: Tables): string[] {
  return stuck.map((i) => {
    const e = p.endpoints[i]!;
    const why = p.hosts.map((h, j) => {
      const policy = disallowed(e, h);
      if (policy) return `${h.id}: ${policy}`;
      return `${h.id}: needs ${t.load[i]![j]!.toFixed(0)} mCPU and ${e.memoryMib} MiB, host has ${h.cpuMillis - (h.cpuUsedMillis ?? 0)} mCPU and ${h.memoryMib} MiB in all`;
    });
    return `${e.id} fits no host (${why.join(', ')})`;
  });
}

/** The least the call terms can cost: each call at its cheapest site pair. */
function callFloor(p: PlacementProblem, t: Tables): number {
  let floor = 0;
  p.endpoints.forEach((e, i) => {
    for (const [, c] of t.outgoing[i]!) {
      let best = Number.POSITIVE_INFINITY;
      for (let s = 0; s < p.sites.length; s++) {
        for (let u = 0; u < p.sites.length; u++) best = Math.min(best, pairCost(p, e, c, s, u));
      }
      floor += best;
    }
  });
  return floor;
}

/** A lower bound that ignores capacity: each endpoint on its cheapest host, each call at its cheapest site pair. */
function simpleBound(p: PlacementProblem, t: Tables): number {
  let bound = callFloor(p, t);
  for (const row of t.unary) bound += Math.min(...row);
  return bound;
}

/** A crude upper value for the unary part (each endpoint on its dearest allowed host), for step sizes only. */
function unaryUpperBound(t: Tables): number {
  let total = 0;
  for (const row of t.unary) total += Math.max(...Array.from(row).filter(Number.isFinite));
  return total;
}

function assignmentFrom(p: PlacementProblem, value: (name: string) => number): Assignment {
  return Int32Array.from(p.endpoints, (_e, i) => {
    let best = -1;
    let bestV = 0.5;
    for (let j = 0; j < p.hosts.length; j++) {
      const v = value(xName(i, j));
      if (v > bestV) {
        bestV = v;
        best = j;
      }
    }
    return best;
  });
}

/**
 * Rounds a fractional LP solution: endpoints most decided in the relaxation first, each to its largest x that
 * still fits; the rest by the heuristic.
 */
function roundRelaxation(p: PlacementProblem, t: Tables, value: (name: string) => number): Assignment {
  const prefs = p.endpoints.map((_e, i) => {
    const hs = p.hosts.map((_h, j) => [j, value(xName(i, j))] as const).filter(([, v]) => v > 1e-6);
    hs.sort((a, b) => b[1] - a[1]);
    return hs;
  });
  const order = [...prefs.keys()].sort((a, b) => (prefs[b]![0]?.[1] ?? 0) - (prefs[a]![0]?.[1] ?? 0));
  const start = new Int32Array(p.endpoints.length).fill(-1);
  const cpu = Float64Array.from(p.hosts, (h) => h.cpuMillis - (h.cpuUsedMillis ?? 0));
  const mem = Float64Array.from(p.hosts, (h) => h.memoryMib);
  for (const i of order) {
    for (const [j] of prefs[i]!) {
      if (t.load[i]![j]! <= cpu[j]! + 1e-9 && p.endpoints[i]!.memoryMib <= mem[j]! + 1e-9) {
        start[i] = j;
        cpu[j] = cpu[j]! - t.load[i]![j]!;
        mem[j] = mem[j]! - p.endpoints[i]!.memoryMib;
        break;
      }
    }
  }
  return greedy(p, t, start).assignment;
}

/**
 * A backend's answer made safe: solver tolerances can leave an x at 0.99 or a capacity a hair over, so the
 * answer seeds the greedy (which keeps what fits and re-places the rest) instead of being trusted as is.
 */
function repaired(p: PlacementProblem, t: Tables, a: Assignment): Assignment | undefined {
  const r = greedy(p, t, a);
  return r.unplaced.length === 0 ? r.assignment : undefined;
}

/** The cheaper of two complete, feasible assignments. */
function better(
  p: PlacementProblem,
  a: Assignment | undefined,
  b: Assignment | undefined,
): Assignment | undefined {
  if (!b || b.some((h) => h < 0)) return a;
  if (!a) return b;
  return evaluate(p, toPlacement(p, b)) < evaluate(p, toPlacement(p, a)) ? b : a;
}

export async function solve(p: PlacementProblem, options: SolveOptions = {}): Promise<Solution> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const deadline = started + (options.timeLimitMs ?? 1000);
  validate(p);
  const ix = indexProblem(p);
  const t = tables(p, ix);
  const size = p.endpoints.length * p.hosts.length;
  let edges = 0;
  for (const out of t.outgoing) edges += out.length;
  const pairsFit = edges * p.sites.length ** 2 <= PAIR_TERMS_MAX;
  let backend = options.backend ?? 'auto';
  if (backend === 'auto') {
    backend =
      size <= JS_LP_MAX && pairsFit
        ? 'lp-solver'
        : size <= HIGHS_MILP_MAX && pairsFit
          ? 'highs'
          : 'highs-relaxation';
  }

  // Warm start and fallback: greedy (from the previous placement if given), then local search.
  const warm = greedy(p, t, options.warmStart ? fromPlacement(p, options.warmStart) : undefined);
  const budget = deadline - started;
  const heuristicDeadline = backend === 'heuristic' ? deadline : started + budget / 2;
  let best: Assignment | undefined = warm.unplaced.length === 0 ? warm.assignment : undefined;
  let bound = simpleBound(p, t);
  // Prices on capacity give a much stronger bound for the endpoints' own costs, and a priced assignment that
  // repairs into a good starting point. A warm re-solve skips it: the previous placement is the better start.
  if (!options.warmStart) {
    const floor = callFloor(p, t);
    const upper = best ? evaluate(p, toPlacement(p, best), ix) - floor : unaryUpperBound(t);
    const lag = lagrangianBound(p, t, upper, now, started + budget * 0.2);
    bound = Math.max(bound, lag.bound + floor);
    // Local search from both starting points, sharing what is left of the heuristic's time.
    const candidate = repaired(p, t, lag.assignment);
    const split = now() + (heuristicDeadline - now()) / 2;
    if (best) improve(p, t, best, now, split);
    if (candidate) improve(p, t, candidate, now, heuristicDeadline);
    best = better(p, best, candidate);
  } else if (best) {
    improve(p, t, best, now, heuristicDeadline);
  }

  if (backend !== 'heuristic') {
    const remaining = Math.max(50, deadline - now());
    if (backend === 'lp-solver') {
      const lp = formulate(p, t, 'exact');
      const r = jsLpSolver.Solve(toJsLpModel(lp, remaining));
      if (r.feasible) {
        best = better(
          p,
          best,
          repaired(
            p,
            t,
            assignmentFrom(p, (name) => Number(r[name] ?? 0)),
          ),
        );
        if (
          r.isIntegral !== false &&
          best !== undefined &&
          violations(p, toPlacement(p, best), ix).length === 0
        ) {
          bound = Math.max(
            bound,
            Math.min(Number(r.result), evaluate(p, toPlacement(p, best), ix)) * (1 - 1e-9),
          );
        }
      } else if (r.feasible === false && best === undefined) {
        throw new InfeasibleError(
          explainInfeasible(p, warm.unplaced.length > 0 ? warm.unplaced : [...t.unary.keys()], t),
        );
      }
    } else {
      const solver = await highs();
      const exact = backend === 'highs';
      const cutsFit = edges * p.sites.length <= CUT_TERMS_MAX;
      const lp = formulate(p, t, exact && pairsFit ? 'exact' : cutsFit ? 'cut' : 'none');
      const r = solver.solve(toLpText(lp, !exact), { time_limit: remaining / 1000, mip_rel_gap: 1e-4 });
      const value = (name: string) => r.Columns[name]?.Primal ?? 0;
      if (r.Status === 'Optimal') {
        if (exact) {
          best = better(p, best, repaired(p, t, assignmentFrom(p, value)));
          bound = Math.max(bound, r.ObjectiveValue * (1 - 1e-4));
        } else {
          // The relaxation with the call terms under-estimated (cut terms, or left out) plus their in-site floor
          // is a valid lower bound on the optimum.
          bound = Math.max(bound, r.ObjectiveValue + cutConstant(p, t));
          const rounded = roundRelaxation(p, t, value);
          improve(p, t, rounded, now, deadline);
          best = better(p, best, rounded);
        }
      } else if (r.Status === 'Infeasible' && best === undefined) {
        throw new InfeasibleError(explainInfeasible(p, warm.unplaced, t));
      }
    }
  }

  if (best === undefined || best.some((h) => h < 0))
    throw new InfeasibleError(explainInfeasible(p, warm.unplaced, t));
  const placement = toPlacement(p, best);
  const objective = evaluate(p, placement, ix);
  bound = Math.min(bound, objective);
  return {
    placement,
    objective,
    bound,
    gap: objective > 0 ? (objective - bound) / objective : 0,
    timeMs: now() - started,
    backend,
  };
}
