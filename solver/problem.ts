// The placement problem and its answer: the contract between the profiler/control plane (which fill it from
// measurements) and the solver (docs/solver.md). Plain data, no behaviour.

export interface SolverHost {
  id: string;
  /** Index into `sites`. */
  site: number;
  tier: string;
  /** CPU capacity in millicores (1000 = one core busy all the time). */
  cpuMillis: number;
  memoryMib: number;
  capabilities: string[];
  /** CPU already in use by work the solver does not place. */
  cpuUsedMillis?: number;
}

export interface SolverStore {
  id: string;
  site: number;
}

export interface EndpointPolicy {
  pinnedTier?: string;
  forbiddenTiers?: string[];
  requires?: string[];
}

export interface SolverEndpoint {
  id: string;
  /** Requests per second entering at each site (index into `sites`). */
  ratePerSite: number[];
  /** Execution time per call in ms, by host tier; `default` for tiers not listed. */
  cpuMsPerCall: Record<string, number>;
  memoryMib: number;
  /** Data-store accesses per request: count and bytes moved per request. */
  stores: { store: string; perRequest: number; bytesPerRequest: number }[];
  /** Calls per request to other endpoints, with bytes moved per call. */
  calls: { to: string; perRequest: number; bytesPerCall: number }[];
  policy?: EndpointPolicy;
  /** Where it runs now, and what moving it costs (in the objective's units). */
  current?: string;
  moveCost?: number;
}

export interface PlacementProblem {
  sites: string[];
  /** Round trip in ms between sites (a square matrix; the diagonal is the in-site round trip). */
  rttMs: number[][];
  hosts: SolverHost[];
  stores: SolverStore[];
  endpoints: SolverEndpoint[];
  /** Objective units per byte that crosses sites (egress), e.g. 1e-6. */
  egressCostPerByte: number;
}

/** Endpoint id -> host id. */
export type Placement = Record<string, string>;

export interface Solution {
  placement: Placement;
  /** The objective of `placement`, recomputed from it (evaluate()). */
  objective: number;
  /** A proven lower bound on the optimum. */
  bound: number;
  /** (objective - bound) / objective. */
  gap: number;
  timeMs: number;
  backend: string;
}
