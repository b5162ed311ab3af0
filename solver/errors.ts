// The solver's failures, in the project's catalogue style (core/errors.ts): a malformed problem, a problem with
// no feasible placement (whose reasons say which endpoint cannot go where and why), and a backend that broke.
import { ERROR_CODES, RoamError, type RoamErrorOptions } from '../core/errors.ts';

export class InvalidProblemError extends RoamError {
  constructor(message: string, options?: RoamErrorOptions) {
    super('ROAM_ERR_SOLVER_INVALID_PROBLEM', ERROR_CODES.ROAM_ERR_SOLVER_INVALID_PROBLEM, message, options);
  }
}

export class InfeasibleError extends RoamError {
  /** One sentence per obstacle, naming the endpoints and hosts involved. */
  readonly reasons: string[];
  constructor(reasons: string[], options?: RoamErrorOptions) {
    super(
      'ROAM_ERR_SOLVER_INFEASIBLE',
      ERROR_CODES.ROAM_ERR_SOLVER_INFEASIBLE,
      `no feasible placement: ${reasons.join('; ')}`,
      options,
    );
    this.reasons = reasons;
  }
}

/** An exact backend that was asked for by name failed (it did not load, or reported an error). */
export class SolverBackendError extends RoamError {
  constructor(message: string, options?: RoamErrorOptions) {
    super('ROAM_ERR_SOLVER_BACKEND', ERROR_CODES.ROAM_ERR_SOLVER_BACKEND, message, options);
  }
}
