// Solves placement problems on a worker thread with a hard deadline, so no solve can hold the control plane's
// event loop: its admin API, heartbeats and config pushes go on while the solver works. The solver keeps to
// the budget itself (counted from this call, the trip to the thread included); a solve still running a tenth
// past it is stopped by terminating its thread, and the best placement it had posted stands as the answer,
// its cost recomputed here and its bound the trivial 0 (the gap says how little is proven). A solve stopped
// before it posted any placement answers `undefined`: the caller keeps what runs now. The thread keeps the
// last problem it was sent, and a solve sends it only what changed since (found by comparing this problem,
// flattened to numbers, with the last one), so a problem is read when it is passed and may change after.
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { errorFromCode } from '../core/errors.ts';
import { moduleUrl } from '../core/paths.ts';
import {
  type Backend,
  evaluate,
  InfeasibleError,
  type Placement,
  type PlacementProblem,
  type Prices,
  placementFromRoutes,
  routesFromPlacement,
  type Solution,
} from '../solver/index.ts';
import type { ProblemMessage, SolveOutcome, SolveTask, WarmTask } from './solver-thread.ts';

/** What the thread answers to a problem sent whole. */
type Answered = Exclude<SolveOutcome, { stale: true }>;

export interface OffThreadAnswer {
  /** The solver's answer, or the best placement posted before the thread was stopped; none if none was. */
  solution: Solution | undefined;
  /** Set when the solve ran past its deadline and was stopped: by how much it was over when stopped. */
  overrunMs?: number;
}

/**
 * When the thread is stopped, as a multiple of the budget: a tenth past it, so that with the termination and
 * the costing of the last placement the answer is back within a fifth (issue 16).
 */
export const HARD_STOP = 1.1;

export class OffThreadSolver {
  private readonly pool = new Piscina({
    filename: moduleUrl('control-plane/solver-thread.ts').href,
    // One thread, started now and kept: loading the solver and HiGHS is not paid within a solve's deadline.
    minThreads: 1,
    maxThreads: 1,
    idleTimeout: Number.POSITIVE_INFINITY,
  });
  /** The thread has started and loaded the solver: a solve's deadline counts from after this. */
  private warm = this.warmUp();
  private readonly flattener = new Flattener();
  /** The last problem sent to the thread, flattened, and its version; none after the thread was stopped. */
  private sent: { version: number; flat: Flat } | undefined;
  private version = 0;

  private warmUp(): Promise<void> {
    return this.pool.run({ warm: true } satisfies WarmTask).then(
      () => {},
      () => {},
    );
  }

  /** Resolves once the thread is up with the solver loaded (after a stop, the replacement thread). */
  ready(): Promise<void> {
    return this.warm;
  }

  /** Solves `problem` within `timeLimitMs`; throws what the solver threw (InfeasibleError, InvalidProblemError). */
  async solve(
    problem: PlacementProblem,
    timeLimitMs: number,
    previous?: { placement: Placement; prices?: Prices },
    backend?: Backend,
  ): Promise<OffThreadAnswer> {
    await this.warm;
    const started = performance.now();
    let latest: Int32Array | undefined;
    const abort = new AbortController();
    const version = ++this.version;
    const flat = this.flattener.problem(problem);
    const changes = this.changesSinceSent(problem, flat, version);
    this.sent = { version, flat };
    const routes = previous ? routesFromPlacement(problem, previous.placement) : undefined;
    const post = (message: ProblemMessage) => {
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (posted: Int32Array) => {
        latest = posted;
      });
      const task: SolveTask = {
        problem: message,
        timeLimitMs,
        deadline: performance.timeOrigin + started + timeLimitMs,
        port: port2,
        ...(routes ? { previous: { routes, ...(previous?.prices ? { prices: previous.prices } : {}) } } : {}),
        ...(backend ? { backend } : {}),
      };
      const run = this.pool.run(task, {
        signal: abort.signal,
        transferList: [port2],
      }) as Promise<SolveOutcome>;
      return run.finally(() => port1.close());
    };
    // A thread started since the last solve (after a stop) holds no problem to apply changes to: sent whole.
    const running = post(changes ?? { version, problem }).then((outcome) =>
      // A whole problem is never stale.
      'stale' in outcome ? (post({ version, problem }) as Promise<Answered>) : outcome,
    );
    // At the hard stop the caller is answered at once, from what was posted; the thread is terminated after,
    // so its termination and the start of the next thread are not on the caller's clock.
    let timer: NodeJS.Timeout | undefined;
    const stop = new Promise<'stop'>((resolve) => {
      timer = setTimeout(() => resolve('stop'), timeLimitMs * HARD_STOP);
    });
    try {
      const outcome = await Promise.race([running, stop]);
      if (outcome !== 'stop') {
        if ('error' in outcome) {
          const { code, message, reasons } = outcome.error;
          throw code === 'ROAM_ERR_SOLVER_INFEASIBLE' && reasons
            ? new InfeasibleError(reasons)
            : errorFromCode(code, message);
        }
        return { solution: { ...outcome.solution, placement: placementFromRoutes(problem, outcome.routes) } };
      }
      running.catch(() => {});
      setImmediate(() => abort.abort());
      // The thread is replaced, with no problem kept: the next solve sends its problem whole.
      this.sent = undefined;
      // The replacement thread loads the solver before the next solve's clock starts.
      this.warm = running.then(
        () => {},
        () => this.warmUp(),
      );
      const solution =
        latest === undefined
          ? undefined
          : stopped(problem, placementFromRoutes(problem, latest), performance.now() - started);
      return { solution, overrunMs: performance.now() - started - timeLimitMs };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The changes from the problem last sent to the thread to `problem`, or undefined when it must go whole: none
   * was sent (or the thread was replaced since), or the endpoints are not as many.
   */
  private changesSinceSent(
    problem: PlacementProblem,
    flat: Flat,
    version: number,
  ): ProblemMessage | undefined {
    const last = this.sent;
    if (!last || last.flat.generation !== flat.generation || last.flat.ends.length !== flat.ends.length)
      return undefined;
    const endpoints: [number, PlacementProblem['endpoints'][number]][] = [];
    for (let i = 1; i < flat.ends.length; i++)
      if (!samePart(last.flat, flat, i)) endpoints.push([i - 1, problem.endpoints[i - 1]!]);
    if (samePart(last.flat, flat, 0)) return { version, base: last.version, endpoints };
    const { endpoints: _all, ...rest } = problem;
    return { version, base: last.version, endpoints, rest };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** A solution from a placement the stopped search had posted: nothing is proven about it. */
function stopped(problem: PlacementProblem, placement: Placement, timeMs: number): Solution {
  const cost = evaluate(problem, placement);
  return {
    placement,
    objective: cost.total,
    cost,
    bound: 0,
    gap: cost.total > 0 ? 1 : 0,
    optimal: false,
    timeMs,
    backend: 'heuristic',
    notes: ['stopped at its deadline; the best placement found so far stands'],
  };
}

/**
 * A problem flattened to numbers, to find what changed since the last one without copying either: part 0 is
 * every field but the endpoints, part i + 1 endpoint i; `ends[k]` is where part k ends in `values` (which is
 * written over by the next problem but one).
 */
interface Flat {
  values: Float64Array;
  ends: Int32Array;
  /** Strings are numbered by the flattener: two flats compare only within one numbering. */
  generation: number;
}

/** Part k of `a` and of `b` hold the same values: the same JSON value, read the same way (key order too). */
function samePart(a: Flat, b: Flat, k: number): boolean {
  const from = k === 0 ? 0 : a.ends[k - 1]!;
  const length = a.ends[k]! - from;
  const at = k === 0 ? 0 : b.ends[k - 1]!;
  if (b.ends[k]! - at !== length) return false;
  for (let i = 0; i < length; i++) {
    const x = a.values[from + i]!;
    const y = b.values[at + i]!;
    // NaN is never the same (a problem that holds one is refused, and must be sent to be); 0 and -0 differ.
    if (x !== y || (x === 0 && 1 / x !== 1 / y)) return false;
  }
  return true;
}

/** Tags for the kinds of JSON value in a Flat. */
const KIND = { number: 0, string: 1, array: 2, object: 3, null: 4, true: 5, false: 6, undefined: 7 } as const;

/**
 * Flattens problems; strings become numbers, the same from one problem to the next so that the same text
 * compares equal. The numbering restarts (a new generation) once it holds more strings than a mesh names.
 */
class Flattener {
  private strings = new Map<string, number>();
  private generation = 0;
  /**
   * Two buffers, used in turn: a problem's flat is compared with the one before it, so the buffer written is
   * always the one that does not hold it.
   */
  private buffers = [new Float64Array(1 << 16), new Float64Array(1 << 16)];
  private turn = 0;
  private values = this.buffers[0]!;
  private at = 0;

  problem(p: PlacementProblem): Flat {
    if (this.strings.size > MAX_STRINGS) {
      this.strings = new Map();
      this.generation++;
    }
    this.turn ^= 1;
    this.values = this.buffers[this.turn]!;
    this.at = 0;
    const ends = new Int32Array(p.endpoints.length + 1);
    for (const key in p) {
      if (key === 'endpoints') continue;
      this.string(key);
      this.value(p[key as keyof PlacementProblem]);
    }
    ends[0] = this.at;
    p.endpoints.forEach((e, i) => {
      this.value(e);
      ends[i + 1] = this.at;
    });
    this.buffers[this.turn] = this.values;
    return { values: this.values, ends, generation: this.generation };
  }

  private push(v: number): void {
    if (this.at === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.at++] = v;
  }

  private string(s: string): void {
    let id = this.strings.get(s);
    if (id === undefined) {
      id = this.strings.size;
      this.strings.set(s, id);
    }
    this.push(id);
  }

  private value(v: unknown): void {
    if (typeof v === 'number') {
      this.push(KIND.number);
      this.push(v);
    } else if (typeof v === 'string') {
      this.push(KIND.string);
      this.string(v);
    } else if (Array.isArray(v)) {
      this.push(KIND.array);
      this.push(v.length);
      for (const x of v) this.value(x);
    } else if (v === null) this.push(KIND.null);
    else if (typeof v === 'object') {
      const o = v as Record<string, unknown>;
      this.push(KIND.object);
      let keys = 0;
      for (const _ in o) keys++;
      this.push(keys);
      for (const key in o) {
        this.string(key);
        this.value(o[key]);
      }
    } else if (v === true) this.push(KIND.true);
    else if (v === false) this.push(KIND.false);
    else this.push(KIND.undefined);
  }
}

/** Distinct strings a Flattener numbers before it starts again: far more than one mesh's names and keys. */
const MAX_STRINGS = 1_000_000;
