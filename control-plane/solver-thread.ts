// The placement solve as a piscina task, on a thread of its own (control-plane/off-thread-solver.ts runs it):
// the solver's exact backends are synchronous and can run long, and on the control plane's main thread they
// would stop its admin API, heartbeats and config pushes meanwhile. Each better placement the search finds is
// posted on the task's port as it is found, so the caller has an answer even if it must stop the thread.
import type { MessagePort } from 'node:worker_threads';
import type { RoamError } from '../core/errors.ts';
import {
  type Backend,
  type Placement,
  type PlacementProblem,
  type Prices,
  type Solution,
  solve,
  warmUp,
} from '../solver/index.ts';

export interface SolveTask {
  problem: PlacementProblem;
  timeLimitMs: number;
  backend?: Backend;
  previous?: { placement: Placement; prices?: Prices };
  /** Better placements, posted as found. */
  port: MessagePort;
}

/** What comes back: the solution, or the error the solver threw (its code survives the thread boundary). */
export type SolveOutcome =
  | { solution: Solution }
  | { error: { code: string; message: string; reasons?: string[] } };

/** Loads the solver's backends before any solve is timed. */
export interface WarmTask {
  warm: true;
}

export default async function run(task: SolveTask | WarmTask): Promise<SolveOutcome | undefined> {
  if ('warm' in task) {
    await warmUp();
    return undefined;
  }
  try {
    const solution = await solve(task.problem, {
      timeLimitMs: task.timeLimitMs,
      ...(task.backend ? { backend: task.backend } : {}),
      ...(task.previous ? { previous: task.previous } : {}),
      onPlacement: (placement) => task.port.postMessage(placement),
    });
    return { solution };
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
