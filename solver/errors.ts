// The solver's failures, in the project's catalogue style (core/errors.ts): a bad problem, and a problem with no
// feasible placement, whose message says which endpoint cannot go where and why.
import { RoamError, type RoamErrorOptions } from '../core/errors.ts';

export class InvalidProblemError extends RoamError {
  constructor(message: string, options?: RoamErrorOptions) {
    super('ROAM_ERR_SOLVER_INVALID_PROBLEM', 400, message, options);
  }
}

export class InfeasibleError extends RoamError {
  /** One line per endpoint that cannot be placed, with the reason for each host. */
  readonly reasons: string[];
  constructor(reasons: string[], options?: RoamErrorOptions) {
    super('ROAM_ERR_SOLVER_INFEASIBLE', 409, `no feasible placement: ${reasons.join('; ')}`, options);
    this.reasons = reasons;
  }
}
