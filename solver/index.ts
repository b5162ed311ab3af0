// The solver's public surface: pure placement optimisation (docs/solver.md is the contract).
export { InfeasibleError, InvalidProblemError, SolverBackendError } from './errors.ts';
export { explainInfeasible } from './explain.ts';
export { evaluate, violations } from './model.ts';
export { placementFromRoutes, routesFromPlacement } from './placement.ts';
export type {
  Backend,
  Cost,
  EndpointCall,
  EndpointPlacement,
  EndpointPolicy,
  Placement,
  PlacementProblem,
  Prices,
  Solution,
  SolverEndpoint,
  SolverHost,
  SolverStore,
  StoreAccess,
} from './problem.ts';
export { type SolveOptions, solve, warmUp } from './solve.ts';
export { type SyntheticOptions, syntheticProblem } from './synthetic.ts';
