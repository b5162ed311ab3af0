// Property suite (issue 16): every strategy against an exact optimum computed separately. Hundreds of seeded
// tiny instances are solved by enumeration (./oracle.ts, which uses only the public model: evaluate and
// violations), and each strategy must agree with it: infeasible exactly when no placement exists; otherwise a
// placement with no violations, its objective the recomputed cost, bound <= optimum <= objective, every number
// finite, and `optimal` only where the objective is the optimum. Beyond what enumeration reaches, HiGHS's proven
// optimum is the reference. Instances vary utilisation (tight ones at 85-95 %), host memory (1-2x the average
// need, or the generator's ample default), current placements, replicas, pinned hosts, call volume and weights,
// so both feasible and infeasible instances occur, infeasible ones that no obvious obstacle explains among
// them (the set is counted, so a backend that answers "infeasible" to everything fails).

import { describe, expect, it } from 'vitest';
import { OffThreadSolver } from '../../control-plane/off-thread-solver.ts';
import { seededRandom } from '../../core/random.ts';
import { compile } from '../compile.ts';
import {
  type Backend,
  evaluate,
  explainInfeasible,
  InfeasibleError,
  type Placement,
  type PlacementProblem,
  type Solution,
  solve,
  syntheticProblem,
  violations,
} from '../index.ts';
import { toPlacement } from '../placement.ts';
import { State } from '../state.ts';
import { exactOptimum, type Oracle, placementCount } from './oracle.ts';

/** What an instance is made of; printed with any failure, so the instance can be rebuilt (`build`). */
interface Shape {
  seed: number;
  endpoints: number;
  hosts: number;
  utilisation: number;
  /** Host memory as a multiple of the average need (total endpoint memory / hosts); undefined: as generated. */
  memory: number | undefined;
  current: 'none' | 'some' | 'all';
  replicas: boolean;
  /** Whether one endpoint is pinned to two hosts. */
  pinned: boolean;
  /** 'none': calls dropped; 'heavy': 20x the bytes per call (egress); otherwise as generated. */
  calls: 'none' | 'as generated' | 'heavy';
  /** Random egress and migration weights instead of the defaults. */
  weights: boolean;
}

function shape(seed: number): Shape {
  const r = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const replicas = r() < 0.35;
  const hosts = pick([2, 3, 3, 3, 4]);
  // Sizes enumeration covers in a few thousand placements (a replicated endpoint has up to hosts^3 routes).
  const most = replicas ? (hosts === 4 ? 3 : hosts === 3 ? 4 : 6) : hosts === 4 ? 5 : 7;
  return {
    seed,
    endpoints: 2 + Math.floor(r() * (most - 1)),
    hosts,
    utilisation: r() < 0.4 ? 0.85 + 0.1 * r() : 0.1 + 0.6 * r(),
    memory: r() < 0.25 ? undefined : 1 + r(),
    current: pick(['none', 'some', 'all'] as const),
    replicas,
    pinned: r() < 0.15,
    calls: pick(['none', 'as generated', 'heavy'] as const),
    weights: r() < 0.3,
  };
}

function build(s: Shape): PlacementProblem {
  const p = syntheticProblem({
    endpoints: s.endpoints,
    hosts: s.hosts,
    seed: s.seed,
    utilisation: s.utilisation,
    replicas: s.replicas,
  });
  const r = seededRandom(s.seed ^ 0x5eed);
  const some = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  if (s.replicas) {
    // The generator makes a front end replicated only 30 % of the time: make sure one endpoint is.
    const e = some(p.endpoints);
    e.policy = { ...e.policy, maxReplicas: 2 + Math.floor(r() * 2) };
  }
  if (s.pinned) {
    const e = some(p.endpoints);
    const first = Math.floor(r() * p.hosts.length);
    e.policy = {
      ...e.policy,
      pinnedHosts: [p.hosts[first]!.id, p.hosts[(first + 1) % p.hosts.length]!.id],
    };
  }
  if (s.calls === 'none') for (const e of p.endpoints) e.calls = [];
  if (s.calls === 'heavy')
    for (const e of p.endpoints) e.calls = e.calls.map((c) => ({ ...c, bytesPerCall: c.bytesPerCall * 20 }));
  if (s.memory !== undefined) {
    const need = p.endpoints.reduce((n, e) => n + e.memoryMib, 0) / p.hosts.length;
    for (const h of p.hosts) h.memoryMib = Math.round(need * s.memory);
  }
  if (s.current !== 'none')
    for (const e of p.endpoints) {
      if (s.current === 'some' && r() < 0.5) continue;
      const j = Math.floor(r() * p.hosts.length);
      const replicated = (e.policy?.maxReplicas ?? 1) > 1 && r() < 0.5;
      e.current = replicated ? [p.hosts[j]!.id, p.hosts[(j + 1) % p.hosts.length]!.id] : [p.hosts[j]!.id];
    }
  if (s.weights) p.weights = { egress: 10 ** (3 * r()), migration: 4 * r() };
  return p;
}

interface Case {
  shape: Shape;
  problem: PlacementProblem;
  oracle: Oracle;
  /** Infeasible, and explainInfeasible finds nothing: only a search (or a proof) can tell. */
  hidden: boolean;
}

// A fixed base seed keeps CI deterministic; change it locally to explore other instances.
const SEED = 20_261_123;
const INSTANCES = 300;
/**
 * javascript-lp-solver checks its time limit only between branches and its simplex can cycle (hard-instances.ts),
 * and a cycle would hang the suite: it also does so at these sizes, e.g. on syntheticProblem({ endpoints: 6,
 * hosts: 4, seed: 52723, utilisation: 0.9420545954722911, replicas: false }) with every host's memoryMib at
 * round(1.7715895767323673 x the average need), infeasible, which ran past 110 s on a 2 s limit. It runs on
 * these instances because every one was seen to finish (the 300, and 2,000 more from this generator, about 2 ms
 * each); re-check if the generator or syntheticProblem changes.
 */
const LP_SOLVER_INSTANCES = INSTANCES;
const TIME_LIMIT_MS = 2000;

let built: Case[] | undefined;
/** The instances with their enumerated optima, built once for the whole file. */
function cases(): Case[] {
  built ??= Array.from({ length: INSTANCES }, (_, i) => {
    const s = shape(SEED + i);
    const problem = build(s);
    const oracle = exactOptimum(problem);
    return {
      shape: s,
      problem,
      oracle,
      hidden: oracle === 'infeasible' && explainInfeasible(problem).length === 0,
    };
  });
  return built;
}

const finite = (s: Solution) =>
  [
    s.objective,
    s.bound,
    s.gap,
    s.timeMs,
    s.cost.total,
    s.cost.latency,
    s.cost.egress,
    s.cost.migration,
  ].every(Number.isFinite);

/** What is wrong with a strategy's answer (a Solution, or what it threw), given the exact optimum. */
function check(p: PlacementProblem, oracle: Oracle, answer: Solution | unknown): string[] {
  if (oracle === 'infeasible') {
    if (answer instanceof InfeasibleError) return [];
    if (answer instanceof Error) return [`threw ${answer.name}: ${answer.message}, not InfeasibleError`];
    return ['returned a placement for an infeasible problem'];
  }
  const { optimum } = oracle;
  if (answer instanceof Error) return [`threw ${answer.name}: ${answer.message} (optimum ${optimum})`];
  const s = answer as Solution;
  const out: string[] = [];
  const broken = violations(p, s.placement);
  if (broken.length > 0) return [`placement breaks ${broken.join('; ')}`];
  if (!finite(s)) out.push(`a number is not finite: ${JSON.stringify({ ...s, placement: undefined })}`);
  const recomputed = evaluate(p, s.placement).total;
  if (Math.abs(s.objective - recomputed) > 1e-9 * Math.max(1, Math.abs(recomputed)))
    out.push(`objective ${s.objective} is not the recomputed ${recomputed}`);
  if (s.bound > optimum * (1 + 1e-6) + 1e-9) out.push(`bound ${s.bound} > optimum ${optimum}`);
  if (optimum > s.objective * (1 + 1e-9)) out.push(`optimum ${optimum} > objective ${s.objective}`);
  if (s.optimal && s.objective - optimum > 1e-6 * Math.abs(optimum) + 1e-9)
    out.push(`claims optimal at ${s.objective}, optimum ${optimum}`);
  if (!(s.gap >= 0)) out.push(`gap ${s.gap} < 0`);
  return out;
}

async function answer(p: PlacementProblem, backend: Backend, timeLimitMs = TIME_LIMIT_MS) {
  return solve(p, { backend, timeLimitMs }).catch((e: unknown) => e);
}

describe('every strategy against the exact optimum (enumeration)', () => {
  it('has feasible and infeasible instances, infeasible ones no obvious obstacle explains, and tight ones', () => {
    const all = cases();
    const feasible = all.filter((c) => c.oracle !== 'infeasible');
    const count = (f: (c: Case) => boolean) => all.filter(f).length;
    // Enough of each that a backend answering "infeasible" to everything, or placing everything, fails.
    expect(feasible.length).toBeGreaterThanOrEqual(INSTANCES * 0.35);
    expect(all.length - feasible.length).toBeGreaterThanOrEqual(INSTANCES * 0.25);
    expect(count((c) => c.hidden)).toBeGreaterThanOrEqual(INSTANCES * 0.1);
    // Every dimension varies among the feasible instances, not only among the infeasible ones.
    const among = (f: (s: Shape) => boolean) => feasible.filter((c) => f(c.shape)).length;
    expect(among((s) => s.utilisation >= 0.85)).toBeGreaterThanOrEqual(20);
    expect(among((s) => s.memory !== undefined && s.memory < 1.5)).toBeGreaterThanOrEqual(10);
    expect(among((s) => s.replicas)).toBeGreaterThanOrEqual(20);
    expect(among((s) => s.current !== 'none')).toBeGreaterThanOrEqual(20);
    expect(among((s) => s.calls === 'heavy')).toBeGreaterThanOrEqual(20);
    // Replicas actually used in some optima (routes split between hosts).
    expect(
      feasible.filter(
        (c) => c.oracle !== 'infeasible' && Object.values(c.oracle.placement).some((e) => e.hosts.length > 1),
      ).length,
    ).toBeGreaterThanOrEqual(5);
    expect(Math.max(...all.map((c) => placementCount(c.problem)))).toBeLessThanOrEqual(50_000);
  }, 60_000);

  it('the check fails a backend that answers "infeasible" to everything, or claims optimal when it is not', () => {
    const all = cases();
    const lazy = all.filter((c) => check(c.problem, c.oracle, new InfeasibleError(['no'])).length > 0);
    expect(lazy.length).toBe(all.filter((c) => c.oracle !== 'infeasible').length);
    const claim = (p: PlacementProblem, placement: Placement): Solution => {
      const cost = evaluate(p, placement);
      const objective = cost.total;
      return {
        placement,
        objective,
        cost,
        bound: objective,
        gap: 0,
        optimal: true,
        timeMs: 1,
        backend: 'highs',
        notes: [],
      };
    };
    // The optimum itself passes; a feasible placement 1 % dearer claimed optimal, with its own cost as its
    // bound, does not.
    let dearer = 0;
    for (const c of all) {
      if (c.oracle === 'infeasible') continue;
      expect(check(c.problem, c.oracle, claim(c.problem, c.oracle.placement))).toEqual([]);
      for (const e of c.problem.endpoints)
        for (const h of c.problem.hosts) {
          const placement = {
            ...c.oracle.placement,
            [e.id]: { hosts: [h.id], route: c.problem.sites.map(() => h.id) },
          };
          if (violations(c.problem, placement).length > 0) continue;
          if (evaluate(c.problem, placement).total <= c.oracle.optimum * 1.01) continue;
          expect(check(c.problem, c.oracle, claim(c.problem, placement))).not.toEqual([]);
          dearer++;
        }
    }
    expect(dearer).toBeGreaterThan(50);
  }, 60_000);

  it.each(['heuristic', 'highs', 'highs-relaxation', 'auto'] as const)(
    '%s: infeasible exactly when no placement exists, else bound <= optimum <= objective',
    async (backend) => {
      const failures: string[] = [];
      for (const c of cases()) {
        const s = await answer(c.problem, backend);
        for (const f of check(c.problem, c.oracle, s)) failures.push(`${JSON.stringify(c.shape)}: ${f}`);
        if (!(s instanceof Error) && backend !== 'auto' && (s as Solution).backend !== backend)
          failures.push(`${JSON.stringify(c.shape)}: ran ${(s as Solution).backend}`);
      }
      expect(failures).toEqual([]);
    },
    60_000,
  );

  it('lp-solver: the same properties (on instances where it is known to finish)', async () => {
    // On the control plane's solver thread, whose hard deadline stops a cycling simplex: in process, a cycle
    // would block this test's thread, where no timeout can fire.
    const thread = new OffThreadSolver();
    const failures: string[] = [];
    try {
      for (const c of cases().slice(0, LP_SOLVER_INSTANCES)) {
        const a = await thread
          .solve(c.problem, TIME_LIMIT_MS, undefined, 'lp-solver')
          .catch((e: unknown) => ({ error: e }));
        if ('error' in a) {
          for (const f of check(c.problem, c.oracle, a.error))
            failures.push(`${JSON.stringify(c.shape)}: ${f}`);
        } else if (a.overrunMs !== undefined) {
          failures.push(`${JSON.stringify(c.shape)}: ran past its deadline and was stopped`);
        } else {
          for (const f of check(c.problem, c.oracle, a.solution))
            failures.push(`${JSON.stringify(c.shape)}: ${f}`);
        }
      }
    } finally {
      await thread.close();
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('HiGHS proves the enumerated optimum on every feasible instance', async () => {
    const failures: string[] = [];
    for (const c of cases()) {
      if (c.oracle === 'infeasible') continue;
      const s = await answer(c.problem, 'highs', 10_000);
      const why = check(c.problem, c.oracle, s);
      // check() holds an optimal claim to the optimum; here the claim itself is required.
      if (why.length === 0 && !(s as Solution).optimal) why.push('not proven optimal');
      for (const f of why) failures.push(`${JSON.stringify(c.shape)}: ${f}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);
});

describe('beyond enumeration: HiGHS proven optimum as the reference', () => {
  it('heuristic, highs-relaxation and auto stay within bound <= optimum <= objective at 8-12 x 4-5', async () => {
    const failures: string[] = [];
    let proven = 0;
    let infeasible = 0;
    let unproven = 0;
    for (let i = 0; i < 40; i++) {
      const r = seededRandom((SEED * 7 + i) ^ 0xb16);
      const s: Shape = {
        ...shape(SEED * 7 + i),
        endpoints: 8 + Math.floor(r() * 5),
        hosts: 4 + Math.floor(r() * 2),
      };
      const p = build(s);
      const exact = await answer(p, 'highs', 20_000);
      if (!(exact instanceof Error) && !(exact as Solution).optimal) {
        unproven++; // no proof in time: no reference
        continue;
      }
      if (exact instanceof InfeasibleError) infeasible++;
      else if (exact instanceof Error) throw exact;
      else proven++;
      for (const backend of ['heuristic', 'highs-relaxation', 'auto'] as const) {
        const a = await answer(p, backend);
        const tag = `${JSON.stringify(s)} ${backend}`;
        if (exact instanceof InfeasibleError) {
          if (!(a instanceof InfeasibleError))
            failures.push(
              `${tag}: HiGHS proved infeasible, answered ${a instanceof Error ? a.message : (a as Solution).objective}`,
            );
          continue;
        }
        const ref = exact as Solution;
        if (a instanceof Error) {
          failures.push(`${tag}: threw ${a.message}; HiGHS found ${ref.objective}`);
          continue;
        }
        const s2 = a as Solution;
        if (violations(p, s2.placement).length > 0) failures.push(`${tag}: ${violations(p, s2.placement)}`);
        if (!finite(s2)) failures.push(`${tag}: a number is not finite`);
        if (s2.bound > ref.objective * (1 + 1e-9))
          failures.push(`${tag}: bound ${s2.bound} > ${ref.objective}`);
        if (s2.objective < ref.bound * (1 - 1e-9))
          failures.push(`${tag}: objective ${s2.objective} < ${ref.bound}`);
        if (s2.optimal && s2.objective > ref.objective * (1 + 2e-6))
          failures.push(`${tag}: claims optimal at ${s2.objective}, HiGHS ${ref.objective}`);
      }
    }
    expect(failures).toEqual([]);
    // Both kinds of reference, and HiGHS proves nearly all (each in about a second at most on this machine).
    expect(proven).toBeGreaterThanOrEqual(20);
    expect(infeasible).toBeGreaterThanOrEqual(5);
    expect(unproven).toBeLessThanOrEqual(2);
  }, 120_000);
});

describe('compiled tables', () => {
  it('cost any assignment exactly as evaluate() does', () => {
    for (let i = 0; i < 100; i++) {
      const s = shape(SEED + 10_000 + i);
      const p = build({ ...s, endpoints: 2 + (i % 13), hosts: 2 + (i % 5), memory: undefined });
      const x = compile(p);
      const state = new State(x);
      const r = seededRandom(i + 7);
      let placedAll = true;
      for (let a = 0; a < x.A; a++) {
        const allowed = [...Array(x.H).keys()].filter((h) => x.allowed[x.agentEndpoint[a]! * x.H + h]);
        if (allowed.length === 0) {
          placedAll = false;
          break;
        }
        state.add(a, allowed[Math.floor(r() * allowed.length)]!);
      }
      if (!placedAll) continue;
      const placement = toPlacement(x, state);
      const cost = evaluate(p, placement).total;
      expect(Math.abs(state.total() - cost), JSON.stringify(s)).toBeLessThanOrEqual(1e-9 * Math.max(1, cost));
    }
  });
});
