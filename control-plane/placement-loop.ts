// The placement loop: on a period and on drift, profiles -> problem -> solver -> target placement -> moves.
// Hysteresis keeps it calm: a move happens only when its predicted gain clears both a relative and an absolute
// threshold, an endpoint that moved waits out a cool-down, and a round moves at most a few endpoints, biggest
// gain first. Every decision is kept with its inputs and predicted gain, and later the gain measured once
// the move settled, so a person can see why an endpoint moved (`roam history`, GET /api/decisions).
import { evaluate, type Placement, type PlacementProblem, type Prices } from '../solver/index.ts';
import type { ControlPlane } from './control-plane.ts';
import type { Layout, MigrationRecord } from './migration.ts';
import { OffThreadSolver } from './off-thread-solver.ts';
import {
  buildProblem,
  currentPlacement,
  layoutOf,
  type ObservedEndpoint,
  type ObservedNetwork,
  sameLayout,
} from './placement-problem.ts';
import { policyViolation } from './state.ts';

export interface LoopInputs {
  /** Per-endpoint profiles, as the profiler measured them. */
  observed(): Map<string, ObservedEndpoint>;
  network(): ObservedNetwork;
  /** Mean latency per request clients see for an endpoint now, for the measured gain; undefined if unknown. */
  latencyMs(endpoint: string): number | undefined;
  /** Only the leader moves endpoints (followers plan, never act). */
  isLeader?(): boolean;
}

export interface LoopOptions {
  /** Re-plan period; drift events re-plan at once. */
  periodMs: number;
  /** A move must gain at least this share of what the endpoint's own requests cost now... */
  minGainRatio: number;
  /** ...and at least this much, in objective units (ms of latency x requests/s). */
  minGain: number;
  /** An endpoint that moved is left alone this long. */
  coolDownMs: number;
  maxMovesPerRound: number;
  solveBudgetMs: number;
  /** Objective units charged per replica started somewhere new. */
  moveCost: number;
  /** How long after a move the measured gain is taken. */
  settleMs: number;
}

export const DEFAULT_LOOP_OPTIONS: LoopOptions = {
  periodMs: 5_000,
  minGainRatio: 0.1,
  minGain: 5,
  coolDownMs: 30_000,
  maxMovesPerRound: 2,
  solveBudgetMs: 250,
  moveCost: 2,
  settleMs: 5_000,
};

export interface Decision {
  id: number;
  endpoint: string;
  at: string;
  trigger: string;
  from: Layout;
  to: Layout;
  /** Objective (ms x requests/s) now, and the predicted gain of this move. */
  objectiveBefore: number;
  predictedGain: number;
  /** What the solver saw for this endpoint. */
  inputs: ObservedEndpoint | null;
  status: 'moving' | 'done' | 'rolled-back' | 'superseded' | 'failed';
  migration?: number;
  why?: string;
  /** Mean request latency before and after the move (ms), and their difference. */
  latencyBeforeMs?: number;
  latencyAfterMs?: number;
  measuredGainMs?: number;
  doneAt?: number;
}

export interface Proposal {
  endpoint: string;
  from: Layout;
  to: Layout;
  predictedGain: number;
  /**
   * 'move', or why not: pinned by the operator, paused, not measured on a host yet, manual placement, moving
   * already, cooling down, gain below threshold, round full.
   */
  verdict: string;
}

export interface Plan {
  objective: number;
  bound: number;
  gap: number;
  backend: string;
  solveMs: number;
  proposals: Proposal[];
}

type PlanInternals = Plan & { problem: PlacementProblem; current: Placement };

export class PlacementLoop {
  private readonly cp: ControlPlane;
  private readonly inputs: LoopInputs;
  readonly options: LoopOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** The last answer: its placement warm-starts the search, its prices the bound (ignored if stale). */
  private previous: { placement: Placement; prices?: Prices } | undefined;
  private requested = false;
  private readonly unsubscribe: () => void;
  /** Solves on a worker thread with a hard deadline: no solve holds this process's event loop. */
  private readonly solver = new OffThreadSolver();

  constructor(cp: ControlPlane, inputs: LoopInputs, options: Partial<LoopOptions> = {}) {
    this.cp = cp;
    this.inputs = inputs;
    this.options = { ...DEFAULT_LOOP_OPTIONS, ...options };
    this.unsubscribe = cp.onMigrationStep((m) => this.onMigrationStep(m));
  }

  start(): void {
    this.timer = setInterval(() => this.requestRound('period'), this.options.periodMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
    void this.solver.close();
  }

  /** Re-plans now (a drift event, a host down); rounds never overlap. */
  trigger(why: string): Promise<Decision[]> {
    const next = this.running.then(() => this.round(why));
    this.running = next.catch(() => {});
    return next;
  }

  /** Asks for a round unless one is already waiting: a burst of drift events makes one round, not many. */
  requestRound(why: string): void {
    if (this.requested) return;
    this.requested = true;
    void this.trigger(why)
      .catch((err) => this.cp.state.record('loop-error', null, { why, error: (err as Error).message }))
      .finally(() => {
        this.requested = false;
      });
  }

  // --- pausing ---

  paused(): { all: boolean; endpoints: string[] } {
    return this.cp.state.setting('loop-paused') ?? { all: false, endpoints: [] };
  }

  pause(endpoint?: string): void {
    const p = this.paused();
    if (endpoint === undefined) p.all = true;
    else if (!p.endpoints.includes(endpoint)) p.endpoints.push(endpoint);
    this.cp.state.setSetting('loop-paused', p);
    this.cp.state.record('loop-pause', endpoint ?? null, {});
  }

  /** Lets the loop move `endpoint` again (its pause and its operator's pin both go), or lifts the pause on all. */
  resume(endpoint?: string): void {
    const p = this.paused();
    if (endpoint === undefined) p.all = false;
    else {
      p.endpoints = p.endpoints.filter((e) => e !== endpoint);
      this.cp.pins.release(endpoint);
    }
    this.cp.state.setSetting('loop-paused', p);
    this.cp.state.record('loop-resume', endpoint ?? null, {});
  }

  // --- planning ---

  private layouts(): Map<string, Layout> {
    const out = new Map<string, Layout>();
    for (const e of this.cp.state.endpoints()) {
      const hosts = this.cp.placementOf(e.name);
      const weights = this.cp.state.weights(e.name);
      out.set(e.name, weights ? { hosts, weights } : { hosts });
    }
    return out;
  }

  /** What the loop would do now, without doing it. */
  async plan(): Promise<Plan> {
    const { problem: _p, current: _c, ...plan } = await this.planInternals();
    return plan;
  }

  private async planInternals(): Promise<PlanInternals> {
    const state = this.cp.state;
    const observed = this.inputs.observed();
    const layouts = this.layouts();
    const problem = buildProblem({
      nodes: state.nodes(),
      endpoints: state.endpoints(),
      placements: layouts,
      observed,
      network: this.inputs.network(),
      moveCost: this.options.moveCost,
    });
    const budgetMs = this.options.solveBudgetMs;
    const answer = await this.solver.solve(
      problem,
      budgetMs,
      this.previous && this.compatible(problem, this.previous.placement) ? this.previous : undefined,
    );
    if (answer.overrunMs !== undefined) {
      this.cp.state.record('solve-overrun', null, {
        budgetMs,
        overrunMs: Math.round(answer.overrunMs),
        answered: answer.solution !== undefined,
      });
    }
    if (answer.solution === undefined) return noAnswer(problem, layouts);
    const solution = answer.solution;
    this.previous = {
      placement: solution.placement,
      ...(solution.prices ? { prices: solution.prices } : {}),
    };
    // Endpoints with no live replica (their hosts died) take the solver's answer as their current placement:
    // they move whatever the gain.
    const current = { ...solution.placement, ...currentPlacement(problem, layouts) };
    const base = evaluate(problem, current).total;
    const paused = this.paused();
    const now = Date.now();
    const pins = this.cp.pins.all(now);
    const lastMove = new Map<string, number>();
    for (const d of state.decisions<Decision>(undefined, 500)) {
      const t = Date.parse(d.at);
      if (!lastMove.has(d.endpoint)) lastMove.set(d.endpoint, t);
    }
    const proposals: Proposal[] = [];
    for (const [i, e] of problem.endpoints.entries()) {
      const target = solution.placement[e.id];
      const layout = layouts.get(e.id)!;
      if (!target) continue;
      const to = layoutOf(problem, target);
      if (sameLayout(to, layout) && layout.hosts.every((h) => problem.hosts.some((x) => x.id === h)))
        continue;
      const gain = base - evaluate(problem, { ...current, [e.id]: target }).total;
      const own = ownCost(problem, current, base, i);
      const broken =
        layout.hosts.length === 0 || layout.hosts.some((h) => !problem.hosts.some((x) => x.id === h));
      let verdict = 'move';
      const policy = state.endpoint(e.id)?.policy ?? {};
      const measured = observed.get(e.id)?.measuredOnHosts !== false;
      const pin = pins[e.id];
      if (pin) verdict = `pinned by the operator${pin.until ? ` until ${pin.until}` : ''}`;
      else if (paused.all || paused.endpoints.includes(e.id)) verdict = 'paused';
      else if (!broken && !measured) verdict = 'not measured on a host yet';
      else if (policy.manual) verdict = 'manual placement';
      else if (this.cp.migrations.inFlight(e.id)) verdict = 'moving already';
      else if (!broken && now - (lastMove.get(e.id) ?? 0) < this.options.coolDownMs) verdict = 'cooling down';
      else if (!broken && (gain < this.options.minGain || gain < this.options.minGainRatio * own))
        verdict = 'gain below threshold';
      proposals.push({ endpoint: e.id, from: layout, to, predictedGain: gain, verdict });
    }
    proposals.sort((a, b) => b.predictedGain - a.predictedGain);
    let moves = 0;
    for (const p of proposals) {
      if (p.verdict !== 'move') continue;
      if (++moves > this.options.maxMovesPerRound) p.verdict = 'round full';
    }
    return {
      objective: base,
      bound: solution.bound,
      gap: solution.gap,
      backend: solution.backend,
      solveMs: solution.timeMs,
      proposals,
      problem,
      current,
    };
  }

  /** A previous placement is a usable warm start only for the same endpoints on hosts that still exist. */
  private compatible(p: PlacementProblem, placement: Placement): boolean {
    const hosts = new Set(p.hosts.map((h) => h.id));
    return p.endpoints.every(
      (e) =>
        placement[e.id] !== undefined &&
        placement[e.id]!.route.length === p.sites.length &&
        placement[e.id]!.hosts.every((h) => hosts.has(h)),
    );
  }

  private async round(trigger: string): Promise<Decision[]> {
    this.measureSettled();
    if (this.inputs.isLeader && !this.inputs.isLeader()) return [];
    if (this.cp.state.endpoints().length === 0) return [];
    this.cp.pins.sweep();
    const plan = await this.planInternals();
    const observed = this.inputs.observed();
    const decisions: Decision[] = [];
    for (const p of plan.proposals) {
      // An operator may have moved it while the solver ran: their move wins.
      if (p.verdict !== 'move' || this.cp.pins.of(p.endpoint)) continue;
      const policy = this.cp.state.endpoint(p.endpoint)?.policy ?? {};
      const nodes = new Map(this.cp.state.nodes().map((n) => [n.id, n]));
      if (p.to.hosts.some((h) => !nodes.has(h) || policyViolation(policy, nodes.get(h)!))) continue;
      const latency = this.inputs.latencyMs(p.endpoint);
      const d: Decision = this.cp.state.saveDecision<Decision>({
        id: 0,
        endpoint: p.endpoint,
        at: new Date().toISOString(),
        trigger,
        from: p.from,
        to: p.to,
        objectiveBefore: plan.objective,
        predictedGain: p.predictedGain,
        inputs: observed.get(p.endpoint) ?? null,
        status: 'moving',
        ...(latency !== undefined ? { latencyBeforeMs: latency } : {}),
      });
      try {
        const m = this.cp.migrations.start(p.endpoint, p.to, { reason: 'loop', decisionId: d.id });
        d.migration = m.id;
      } catch (err) {
        d.status = 'failed';
        d.why = (err as Error).message;
      }
      this.cp.state.saveDecision(d);
      decisions.push(d);
    }
    return decisions;
  }

  private onMigrationStep(m: MigrationRecord): void {
    if (
      m.decisionId === undefined ||
      (m.step !== 'done' && m.step !== 'rolled-back' && m.step !== 'superseded')
    )
      return;
    const d = this.cp.state.decision<Decision>(m.decisionId);
    if (!d) return;
    d.status = m.step;
    d.doneAt = Date.now();
    if (m.why) d.why = m.why;
    this.cp.state.saveDecision(d);
  }

  /** Fills in the measured gain of moves that finished at least `settleMs` ago. */
  private measureSettled(): void {
    const now = Date.now();
    for (const d of this.cp.state.decisions<Decision>(undefined, 50)) {
      if (d.status !== 'done' || d.latencyAfterMs !== undefined || d.doneAt === undefined) continue;
      if (now - d.doneAt < this.options.settleMs) continue;
      const after = this.inputs.latencyMs(d.endpoint);
      if (after === undefined) continue;
      d.latencyAfterMs = after;
      if (d.latencyBeforeMs !== undefined) d.measuredGainMs = d.latencyBeforeMs - after;
      this.cp.state.saveDecision(d);
    }
  }
}

/**
 * What endpoint `i`'s own requests cost now (their latency, and that of the calls they make): the objective
 * less the objective with its clients gone. The relative threshold is taken against this, not the whole mesh,
 * so a small endpoint far from its callers still moves in a big mesh.
 */
function ownCost(p: PlacementProblem, current: Placement, base: number, i: number): number {
  const without = {
    ...p,
    endpoints: p.endpoints.map((x, j) =>
      j === i ? { ...x, ratePerOrigin: x.ratePerOrigin.map(() => 0) } : x,
    ),
  };
  return Math.max(0, base - evaluate(without, current).total);
}

/**
 * The plan when a solve was stopped before it found any complete placement: no moves, and the objective of
 * what runs now where every endpoint has a live replica (else nothing is claimed about it).
 */
function noAnswer(problem: PlacementProblem, layouts: Map<string, Layout>): PlanInternals {
  const current = currentPlacement(problem, layouts);
  const complete = problem.endpoints.every((e) => current[e.id] !== undefined);
  const objective = complete ? evaluate(problem, current).total : 0;
  return {
    objective,
    bound: 0,
    gap: objective > 0 ? 1 : 0,
    backend: 'none: stopped at its deadline before a placement',
    solveMs: 0,
    proposals: [],
    problem,
    current,
  };
}
