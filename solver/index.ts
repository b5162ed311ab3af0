// The solver's public surface: pure placement optimisation (docs/solver.md).
export { InfeasibleError, InvalidProblemError } from './errors.ts';
export { evaluate, violations } from './model.ts';
export type {
  EndpointPolicy,
  Placement,
  PlacementProblem,
  Solution,
  SolverEndpoint,
  SolverHost,
  SolverStore,
} from './problem.ts';
export { type Backend, type SolveOptions, solve } from './solve.ts';
export { syntheticProblem } from './synthetic.ts';
