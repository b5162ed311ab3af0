// The placement solve as a piscina task, on a thread of its own (control-plane/off-thread-solver.ts runs it):
// the solver's exact backends are synchronous and can run long, and on the control plane's main thread they
// would stop its admin API, heartbeats and config pushes meanwhile. Each better placement the search finds is
// posted on the task's port as it is found, so the caller has an answer even if it must stop the thread.
// The thread keeps the last problem it was sent: the placement loop solves every period a problem that changed
// little, and copying all of it to the thread cost more than the changes (tens of ms at 2000x50).
import type { MessagePort } from 'node:worker_threads';
import type { RoamError } from '../core/errors.ts';
import {
  type Backend,
  type PlacementProblem,
  type Prices,
  placementFromRoutes,
  routesFromPlacement,
  type Solution,
  type SolverEndpoint,
  solve,
  warmUp,
} from '../solver/index.ts';

/**
 * The problem to solve: whole, or as the changes from the one this thread was sent last (`base`), which the
 * caller sends only when both have as many endpoints: the endpoints that differ, by index, and the other
 * fields (all of them) if any of those differ. Each problem sent has a new `version`.
 */
export type ProblemMessage =
  | { version: number; problem: PlacementProblem }
  | {
      version: number;
      base: number;
      endpoints: [index: number, endpoint: SolverEndpoint][];
      rest?: Omit<PlacementProblem, 'endpoints'>;
    };

export interface SolveTask {
  problem: ProblemMessage;
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
  | { error: { code: string; message: string; reasons?: string[] } }
  /** Changes were sent from a problem this thread does not hold (it was started since): send it whole. */
  | { stale: true };

/** Loads the solver's backends before any solve is timed. */
export interface WarmTask {
  warm: true;
}

/** Kept back from the budget for the answer's way back to the caller, ms. */
const RETURN_MS = 2;

/** The last problem this thread was sent (the solver does not change the problems it is given). */
let kept: { version: number; problem: PlacementProblem } | undefined;

/** The problem a message stands for; undefined if it holds changes from a problem this thread does not hold. */
function received(m: ProblemMessage): PlacementProblem | undefined {
  if ('problem' in m) {
    kept = { version: m.version, problem: m.problem };
    return m.problem;
  }
  if (kept?.version !== m.base) return undefined;
  const endpoints = [...kept.problem.endpoints];
  for (const [i, e] of m.endpoints) endpoints[i] = e;
  const problem = { ...(m.rest ?? kept.problem), endpoints };
  kept = { version: m.version, problem };
  return problem;
}

export default async function run(task: SolveTask | WarmTask): Promise<SolveOutcome | undefined> {
  if ('warm' in task) {
    await warmUp();
    return undefined;
  }
  try {
    const problem = received(task.problem);
    if (!problem) return { stale: true };
    const left = task.deadline - (performance.timeOrigin + performance.now()) - RETURN_MS;
    const solution = await solve(problem, {
      timeLimitMs: Math.min(task.timeLimitMs, Math.max(1, left)),
      ...(task.backend ? { backend: task.backend } : {}),
      ...(task.previous
        ? {
            previous: {
              placement: placementFromRoutes(problem, task.previous.routes),
              ...(task.previous.prices ? { prices: task.previous.prices } : {}),
            },
          }
        : {}),
      onRoutes: (routes) => task.port.postMessage(routes),
    });
    const { placement, ...rest } = solution;
    return { solution: rest, routes: routesFromPlacement(problem, placement) };
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
