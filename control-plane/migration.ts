// Live migration of one endpoint, as a state machine persisted step by step (so a control plane that restarts
// resumes it): prepare (the targets load and warm the module) -> ready (they report it ready) -> shift (proxies
// get the new weights, at once or stepped) -> verify (the new targets' error rate and latency against the old
// ones', over a window) -> drain (old targets leave every proxy's routes, finish in-flight work) -> retire
// (they unload) -> done. A target that dies, a step that times out or a regression rolls back: the old weights
// return, then the new replicas go. Each step only sets the desired placement and weights; snapshot.ts keeps
// the make-before-break order, so a move cut anywhere ends fully on the new layout or fully on the old one.
// An operator's move wins over the placement loop's: a manual start supersedes a loop move in flight.
import { ConflictError, NotFoundError } from '../core/errors.ts';
import type { NodeRecord, State, Weights } from './state.ts';

/** Where an endpoint runs and how each origin's requests split over its replicas. */
export interface Layout {
  hosts: string[];
  /** Absent: every origin splits evenly over `hosts`. */
  weights?: Weights;
}

export type MigrationStep =
  | 'prepare'
  | 'ready'
  | 'shift'
  | 'verify'
  | 'drain'
  | 'retire'
  | 'done'
  | 'rollback'
  | 'rolled-back'
  | 'superseded';

export interface ShiftPolicy {
  /** Fractions of traffic on the new layout, in order; [1] is an instant shift. */
  steps: number[];
  /** How long each step but the last holds once every proxy applied it. */
  holdMs: number;
}

/** What the verify step compares: how a set of replicas of an endpoint is doing now (decayed figures). */
export interface TargetObservation {
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

export type Observe = (endpoint: string, hostIds: string[]) => TargetObservation | undefined;

export interface MigrationRecord {
  id: number;
  endpoint: string;
  /** Why it started: manual, loop, host-down. */
  reason: string;
  decisionId?: number;
  from: Layout;
  to: Layout;
  /**
   * Replicas a superseded move had started that are in neither layout: they stay placed (as standbys, weight
   * 0) until this move drains or rolls back, so no proxy loses a replica a request may be on.
   */
  held?: string[];
  /** The operator said --force: no rollback on a regression (a dead target or a timeout still rolls back). */
  force?: boolean;
  step: MigrationStep;
  shiftIndex: number;
  shift: ShiftPolicy;
  startedAt: number;
  stepAt: number;
  /** Per proxy, the snapshot version that carries the current step; the step waits until each applied it. */
  waitFor: Record<string, number>;
  /** Milliseconds from the start to each milestone: ready, shifted (every proxy on 100%), done. */
  timings: Record<string, number>;
  /** Every step as it was entered, for status and history. */
  steps: { step: MigrationStep; atMs: number }[];
  outcome?: 'done' | 'rolled-back' | 'superseded';
  why?: string;
}

export interface StartReason {
  /** manual, loop or host-down; a manual move supersedes a loop move in flight. */
  reason: string;
  decisionId?: number;
  shift?: ShiftPolicy;
  force?: boolean;
}

export interface MigrationOptions {
  /** How long targets may take to report ready before the move is rolled back. */
  prepareTimeoutMs: number;
  /** How long proxies may take to apply a step's weights before the move is rolled back. */
  ackTimeoutMs: number;
  /** The verify window. */
  verifyMs: number;
  /** How long old replicas may take to unload before the move is called done regardless. */
  retireTimeoutMs: number;
  shift: ShiftPolicy;
  observe?: Observe;
}

export const DEFAULT_MIGRATION_OPTIONS: MigrationOptions = {
  prepareTimeoutMs: 15_000,
  ackTimeoutMs: 10_000,
  verifyMs: 1_000,
  retireTimeoutMs: 15_000,
  shift: { steps: [1], holdMs: 0 },
};

/** What the machine needs from the control plane. */
export interface MigrationHost {
  readonly state: State;
  publish(): void;
  /** Called whenever a migration changes step (for waiters and events). */
  onStep(m: MigrationRecord): void;
}

function readyFor(node: NodeRecord | undefined, endpoint: string): boolean {
  return node !== undefined && node.status === 'up' && node.ready.some((r) => r.startsWith(`${endpoint}@`));
}

/** Weights of a layout as every origin sees them (even over its hosts when it has none). */
function weightsOf(layout: Layout): Weights {
  return layout.weights ?? { '*': Object.fromEntries(layout.hosts.map((h) => [h, 1])) };
}

/** `fraction` of each origin's traffic on `to`, the rest on `from` (shares normalised per side). */
export function blend(from: Layout, to: Layout, fraction: number): Weights {
  if (fraction >= 1) return weightsOf(to);
  const a = weightsOf(from);
  const b = weightsOf(to);
  const origins = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: Weights = {};
  for (const o of origins) {
    const wa = a[o] ?? a['*'] ?? {};
    const wb = b[o] ?? b['*'] ?? {};
    const sa = Object.values(wa).reduce((x, y) => x + y, 0) || 1;
    const sb = Object.values(wb).reduce((x, y) => x + y, 0) || 1;
    const mix: Record<string, number> = {};
    for (const [h, w] of Object.entries(wa)) mix[h] = (mix[h] ?? 0) + ((1 - fraction) * w) / sa;
    for (const [h, w] of Object.entries(wb)) mix[h] = (mix[h] ?? 0) + (fraction * w) / sb;
    out[o] = mix;
  }
  return out;
}

export class Migrations {
  private readonly host: MigrationHost;
  readonly options: MigrationOptions;
  private readonly active = new Map<string, MigrationRecord>();
  private readonly timer: NodeJS.Timeout;

  constructor(host: MigrationHost, options: Partial<MigrationOptions> = {}) {
    this.host = host;
    this.options = { ...DEFAULT_MIGRATION_OPTIONS, ...options };
    // Resume what a previous run of the control plane left in flight: each step is re-applied as it was.
    for (const m of host.state.migrations<MigrationRecord>({ active: true })) this.active.set(m.endpoint, m);
    // Timers matter only for windows and timeouts; ACKs and node changes advance migrations through tick().
    this.timer = setInterval(() => this.tick(), 50);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  inFlight(endpoint: string): MigrationRecord | undefined {
    return this.active.get(endpoint);
  }

  list(): MigrationRecord[] {
    return [...this.active.values()];
  }

  /**
   * Starts moving `endpoint` from where it runs now to `to`. A manual move supersedes a loop move in flight;
   * any other move in flight makes this one a conflict.
   */
  start(endpoint: string, to: Layout, why: StartReason): MigrationRecord {
    const state = this.host.state;
    if (!state.endpoint(endpoint))
      throw new NotFoundError(`endpoint "${endpoint}" does not exist`, { endpoint });
    const busy = this.active.get(endpoint);
    if (busy && !(why.reason === 'manual' && busy.reason === 'loop'))
      throw new ConflictError(
        `endpoint "${endpoint}" is already moving (migration ${busy.id}, ${busy.reason}, step ${busy.step}); ` +
          'wait for it (roam migrate waits by default) or move it again once it is done',
        { endpoint },
      );
    const now = Date.now();
    let from: Layout;
    let held: string[] = [];
    if (busy) ({ from, held } = this.supersede(busy));
    else {
      from = { hosts: state.placements(endpoint).map((p) => p.nodeId) };
      const w = state.weights(endpoint);
      if (w) from.weights = w;
    }
    held = held.filter((h) => !from.hosts.includes(h) && !to.hosts.includes(h));
    const m: MigrationRecord = {
      id: 0,
      endpoint,
      reason: why.reason,
      ...(why.decisionId !== undefined ? { decisionId: why.decisionId } : {}),
      from,
      to,
      ...(held.length > 0 ? { held } : {}),
      ...(why.force ? { force: true } : {}),
      step: 'prepare',
      shiftIndex: 0,
      shift: why.shift ?? this.options.shift,
      startedAt: now,
      stepAt: now,
      waitFor: {},
      timings: {},
      steps: [],
    };
    state.saveMigration(m, true);
    this.active.set(endpoint, m);
    state.record('migration-start', endpoint, {
      migration: m.id,
      reason: m.reason,
      from,
      to,
      ...(busy ? { supersedes: busy.id } : {}),
      ...(m.force ? { force: true } : {}),
    });
    this.enter(m, 'prepare');
    this.tick();
    return m;
  }

  /**
   * Ends loop move `busy` so an operator's move can start at once, and says where that move starts from. Up to
   * its drain the old replicas are warm and carry the safe side, so the new move starts from the old layout and
   * holds the superseded move's new replicas until it drains; from the drain on, the loop's layout is in force
   * and the new move starts from it.
   */
  private supersede(busy: MigrationRecord): { from: Layout; held: string[] } {
    const beforeDrain = busy.step !== 'drain' && busy.step !== 'retire';
    const from = beforeDrain ? busy.from : busy.to;
    const held = beforeDrain ? [...busy.to.hosts, ...(busy.held ?? [])] : [];
    busy.why = 'superseded by a manual move';
    this.finish(busy, 'superseded');
    return { from, held };
  }

  /** Advances every active migration as far as the current state allows. */
  tick(): void {
    for (const m of [...this.active.values()]) {
      // A step may complete at once (e.g. nothing to drain): keep going until one waits.
      for (let guard = 0; guard < 8 && this.active.has(m.endpoint); guard++) {
        if (!this.advance(m)) break;
      }
    }
  }

  private advance(m: MigrationRecord): boolean {
    const state = this.host.state;
    const now = Date.now();
    const nodes = new Map(state.nodes().map((n) => [n.id, n]));
    const newHosts = m.to.hosts.filter((h) => !m.from.hosts.includes(h));
    const oldHosts = [...m.from.hosts, ...(m.held ?? [])].filter((h) => !m.to.hosts.includes(h));
    const deadTarget = newHosts.find((h) => nodes.get(h)?.status !== 'up');
    const inStep = now - m.stepAt;
    const rollbackable =
      m.step === 'prepare' || m.step === 'ready' || m.step === 'shift' || m.step === 'verify';
    if (rollbackable && deadTarget)
      return this.rollback(m, `target ${deadTarget} went down during ${m.step}`);
    switch (m.step) {
      case 'prepare': {
        if (m.to.hosts.every((h) => readyFor(nodes.get(h), m.endpoint))) {
          m.timings.ready = now - m.startedAt;
          return this.enter(m, 'ready');
        }
        if (inStep > this.options.prepareTimeoutMs)
          return this.rollback(m, `targets not ready within ${this.options.prepareTimeoutMs} ms`);
        return false;
      }
      case 'ready':
        return this.enter(m, 'shift');
      case 'shift': {
        if (!this.proxiesApplied(m, nodes)) {
          if (inStep > this.options.ackTimeoutMs)
            return this.rollback(m, `proxies did not apply the shift within ${this.options.ackTimeoutMs} ms`);
          return false;
        }
        const last = m.shiftIndex >= m.shift.steps.length - 1;
        if (last) {
          m.timings.shifted = now - m.startedAt;
          return this.enter(m, 'verify');
        }
        const regressed = this.regression(m);
        if (regressed) return this.rollback(m, regressed);
        if (inStep < m.shift.holdMs) return false;
        m.shiftIndex++;
        return this.enter(m, 'shift');
      }
      case 'verify': {
        const regressed = this.regression(m);
        if (regressed) return this.rollback(m, regressed);
        if (inStep < this.options.verifyMs) return false;
        return this.enter(m, 'drain');
      }
      case 'drain': {
        if (!this.proxiesApplied(m, nodes) && inStep <= this.options.ackTimeoutMs) return false;
        return this.enter(m, 'retire');
      }
      case 'retire': {
        const unloading = oldHosts.filter((h) => readyFor(nodes.get(h), m.endpoint));
        if (unloading.length > 0 && inStep <= this.options.retireTimeoutMs) return false;
        return this.finish(m, 'done');
      }
      case 'rollback': {
        if (!this.proxiesApplied(m, nodes) && inStep <= this.options.ackTimeoutMs) return false;
        return this.finish(m, 'rolled-back');
      }
      default:
        return false;
    }
  }

  /** Every proxy that is up applied the snapshot carrying the current step. */
  private proxiesApplied(m: MigrationRecord, nodes: Map<string, NodeRecord>): boolean {
    for (const [id, version] of Object.entries(m.waitFor)) {
      const n = nodes.get(id);
      if (n && n.status === 'up' && n.appliedVersion < version) return false;
    }
    return true;
  }

  private observed(m: MigrationRecord) {
    const observe = this.options.observe;
    if (!observe) return undefined;
    const newHosts = m.to.hosts.filter((h) => !m.from.hosts.includes(h));
    const oldHosts = m.from.hosts.filter((h) => !m.to.hosts.includes(h));
    if (newHosts.length === 0) return undefined;
    const now = observe(m.endpoint, newHosts);
    const before = oldHosts.length > 0 ? observe(m.endpoint, oldHosts) : undefined;
    return now ? { now, before } : undefined;
  }

  /**
   * Why the new replicas regressed, or undefined if they did not: they fail noticeably more often than the old
   * ones did (an error rate over 1% and over twice the old one), or are clearly slower: a median over twice
   * the old one plus 25 ms, or a p99 over three times the old one plus 100 ms (tails alone are noisy on a busy
   * machine). Needs 50 requests; a forced move skips the check.
   */
  private regression(m: MigrationRecord): string | undefined {
    if (m.force) return undefined;
    const o = this.observed(m);
    if (!o || o.now.requests < 50) return undefined;
    const rate = o.now.errors / o.now.requests;
    const oldRate = o.before && o.before.requests > 0 ? o.before.errors / o.before.requests : 0;
    const slower =
      o.before !== undefined &&
      o.before.requests >= 50 &&
      (o.now.p50Ms > 2 * o.before.p50Ms + 25 || o.now.p99Ms > 3 * o.before.p99Ms + 100);
    if (!(rate > 0.01 && rate > 2 * oldRate) && !slower) return undefined;
    const show = (x: TargetObservation | undefined) =>
      x && x.requests > 0
        ? `${((100 * x.errors) / x.requests).toFixed(1)}% errors, p50 ${x.p50Ms.toFixed(1)} ms, p99 ${x.p99Ms.toFixed(1)} ms`
        : 'no data';
    return `regression on the new target: ${show(o.now)} against ${show(o.before)} before`;
  }

  /** Enters `step`: sets the placement and weights it wants, publishes, and notes what to wait for. */
  private enter(m: MigrationRecord, step: MigrationStep): boolean {
    const state = this.host.state;
    const union = [...new Set([...m.from.hosts, ...m.to.hosts, ...(m.held ?? [])])];
    m.step = step;
    m.stepAt = Date.now();
    m.steps.push({ step, atMs: m.stepAt - m.startedAt });
    switch (step) {
      case 'prepare':
      case 'ready':
        this.setLayout(m.endpoint, union, m.from.hosts.length > 0 ? weightsOf(m.from) : weightsOf(m.to));
        break;
      case 'shift':
        this.setLayout(m.endpoint, union, blend(m.from, m.to, m.shift.steps[m.shiftIndex] ?? 1));
        break;
      case 'verify':
        break; // the old replicas stay warm, so a rollback is one weight change away
      case 'drain':
      case 'retire':
        this.setLayout(m.endpoint, m.to.hosts, m.to.weights);
        break;
      case 'rollback':
        this.setLayout(m.endpoint, union, weightsOf(m.from));
        break;
      default:
        break;
    }
    this.host.publish();
    m.waitFor = {};
    for (const n of state.nodes()) {
      if (n.kind !== 'proxy' || n.status !== 'up') continue;
      const snap = state.snapshotOf(n.id);
      if (snap) m.waitFor[n.id] = snap.version;
    }
    state.saveMigration(m, true);
    state.record(`migration-${step}`, m.endpoint, { migration: m.id, ...(m.why ? { why: m.why } : {}) });
    this.host.onStep(m);
    return true;
  }

  private setLayout(endpoint: string, hosts: string[], weights: Weights | undefined): void {
    this.host.state.setPlacement(endpoint, hosts);
    this.host.state.setWeights(endpoint, weights);
  }

  private rollback(m: MigrationRecord, why: string): boolean {
    m.why = why;
    return this.enter(m, 'rollback');
  }

  private finish(m: MigrationRecord, outcome: 'done' | 'rolled-back' | 'superseded'): boolean {
    const state = this.host.state;
    if (outcome === 'rolled-back') this.setLayout(m.endpoint, m.from.hosts, m.from.weights);
    m.step = outcome;
    m.outcome = outcome;
    m.stepAt = Date.now();
    m.timings[outcome] = m.stepAt - m.startedAt;
    m.steps.push({ step: outcome, atMs: m.timings[outcome]! });
    this.active.delete(m.endpoint);
    state.saveMigration(m, false);
    state.record(`migration-${outcome}`, m.endpoint, {
      migration: m.id,
      from: m.from.hosts,
      to: m.to.hosts,
      timings: m.timings,
      ...(m.why ? { why: m.why } : {}),
    });
    this.host.publish();
    this.host.onStep(m);
    return false;
  }
}
