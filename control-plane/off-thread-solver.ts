// Solves placement problems on a worker thread with a hard deadline, so no solve can hold the control plane's
// event loop: its admin API, heartbeats and config pushes go on while the solver works. The solver keeps to
// the budget itself (counted from this call, the trip to the thread included); a solve still running a tenth
// past it is stopped by terminating its thread, and the best placement it had posted stands as the answer,
// its cost recomputed here and its bound the trivial 0 (the gap says how little is proven). A solve stopped
// before it posted any placement answers `undefined`: the caller keeps what runs now.
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
import type { SolveOutcome, SolveTask, WarmTask } from './solver-thread.ts';

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
    const { port1, port2 } = new MessageChannel();
    let latest: Int32Array | undefined;
    port1.on('message', (routes: Int32Array) => {
      latest = routes;
    });
    const abort = new AbortController();
    const task: SolveTask = {
      problem,
      timeLimitMs,
      deadline: performance.timeOrigin + started + timeLimitMs,
      port: port2,
      ...(previous
        ? {
            previous: {
              routes: routesFromPlacement(problem, previous.placement),
              ...(previous.prices ? { prices: previous.prices } : {}),
            },
          }
        : {}),
      ...(backend ? { backend } : {}),
    };
    const running = this.pool.run(task, {
      signal: abort.signal,
      transferList: [port2],
    }) as Promise<SolveOutcome>;
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
      port1.close();
    }
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
