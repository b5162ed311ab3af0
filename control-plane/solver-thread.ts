// The placement solve as a piscina task, on a thread of its own (control-plane/off-thread-solver.ts runs it):
// the solver's exact backends are synchronous and can run long, and on the control plane's main thread they
// would stop its admin API, heartbeats and config pushes meanwhile. Each better placement the search finds is
// posted on the task's port as it is found, so the caller has an answer even if it must stop the thread.
import type { MessagePort } from 'node:worker_threads';
import type { RoamError } from '../core/errors.ts';
import {
  type Backend,
  type PlacementProblem,
  type Prices,
  placementFromRoutes,
  routesFromPlacement,
  type Solution,
  solve,
  warmUp,
} from '../solver/index.ts';

export interface SolveTask {
  problem: PlacementProblem;
  /** The caller's budget, ms. */
  timeLimitMs: number;
  /**
   * When the caller's budget ends, in ms since the epoch (performance.timeOrigin + performance.now(), a clock
   * both threads share): the solve gets what is left of the budget once the task has crossed to this thread.
   */
  deadline: number;
  backend?: Backend;
  /** The previous answer, its placement as routes (one block to clone, where a Placement is 2000 objects). */
  previous?: { routes: Int32Array; prices?: Prices };
  /** Better placements, posted as found (routes: see SolveOptions.onRoutes). */
  port: MessagePort;
}

/**
 * What comes back: the solution (its placement as routes, which cross threads as one block; the caller has the
 * problem to turn them back into a Placement), or the error the solver threw (its code survives the thread
 * boundary).
 */
export type SolveOutcome =
  | { solution: Omit<Solution, 'placement'>; routes: Int32Array }
  | { error: { code: string; message: string; reasons?: string[] } };

/** Loads the solver's backends before any solve is timed. */
export interface WarmTask {
  warm: true;
}

/** Kept back from the budget for the answer's way back to the caller, ms. */
const RETURN_MS = 2;

export default async function run(task: SolveTask | WarmTask): Promise<SolveOutcome | undefined> {
  if ('warm' in task) {
    await warmUp();
    return undefined;
  }
  try {
    const left = task.deadline - (performance.timeOrigin + performance.now()) - RETURN_MS;
    const solution = await solve(task.problem, {
      timeLimitMs: Math.min(task.timeLimitMs, Math.max(1, left)),
      ...(task.backend ? { backend: task.backend } : {}),
      ...(task.previous
        ? {
            previous: {
              placement: placementFromRoutes(task.problem, task.previous.routes),
              ...(task.previous.prices ? { prices: task.previous.prices } : {}),
            },
          }
        : {}),
      onRoutes: (routes) => task.port.postMessage(routes),
    });
    const { placement, ...rest } = solution;
    return { solution: rest, routes: routesFromPlacement(task.problem, placement) };
  } catch (err) {
    const e = err as Partial<RoamError> & { reasons?: string[] };
    return {
      error: {
        code: typeof e.code === 'string' ? e.code : 'ROAM_ERR_INTERNAL',
        message: String(e.message ?? err),
        ...(Array.isArray(e.reasons) ? { reasons: e.reasons } : {}),
      },
    };
  } finally {
    task.port.close();
  }
}
