// What an exact backend reports back: column values when it found a solution, and what it proved.
export interface BackendResult {
  /** optimal: proven within tolerance; feasible: a solution, no proof; infeasible: proven none; limit: nothing. */
  status: 'optimal' | 'feasible' | 'infeasible' | 'limit';
  /** Column values of the best solution found (fractional for a relaxation). */
  values?: Float64Array;
  /** The backend's objective for `values`. */
  objective?: number;
  /** A proven lower bound on the model's optimum, when the backend gives one. */
  bound?: number;
}
