// The placement problem and its answer: the contract between the profiler and control plane, which fill it
// from measurements, and the solver (docs/solver.md describes every field). Plain JSON-able data, no behaviour.

export interface SolverHost {
  id: string;
  /** Host class: 'in-process', 'cluster', 'edge', 'device' or any other name the endpoints' tables use. */
  tier: string;
  /** Index into `PlacementProblem.sites`. */
  site: number;
  /** CPU capacity in millicores (1000 = one core busy all the time). */
  cpuMillis: number;
  memoryMib: number;
  /** What the host offers, matched against `EndpointPolicy.requires` (e.g. 'gpu', 'reaches:db-main'). */
  capabilities: string[];
  /** Load already on the host that the solver does not place; it comes off the capacity. */
  cpuUsedMillis?: number;
  memoryUsedMib?: number;
}

export interface SolverStore {
  id: string;
  /** Where the store's data lives: bytes to or from another site are charged as egress. */
  site: number;
  tier: string;
  /** Measured round trip in ms from each site to the store; null where the store cannot be reached. */
  rttMs: (number | null)[];
}

export interface StoreAccess {
  store: string;
  /** Round trips to the store per request. */
  perRequest: number;
  /** Bytes moved to and from the store per request. */
  bytesPerRequest: number;
}

export interface EndpointCall {
  to: string;
  /** Calls to `to` per request of the caller. */
  perRequest: number;
  /** Bytes moved per call, both directions. */
  bytesPerCall: number;
}

export interface EndpointPolicy {
  /** Only these hosts may run the endpoint. */
  pinnedHosts?: string[];
  /** Only hosts of this tier may run the endpoint. */
  pinnedTier?: string;
  forbiddenTiers?: string[];
  /** Capabilities every host running the endpoint must have. */
  requires?: string[];
  /** Most hosts the endpoint may run on at once (default 1). Traffic is then routed by origin site. */
  maxReplicas?: number;
}

export interface SolverEndpoint {
  id: string;
  /**
   * Requests/s that clients send to this endpoint, by the site where they enter the mesh (one entry per
   * site). Requests made by other endpoints are not counted here: they follow from `calls`.
   */
  ratePerOrigin: number[];
  /** Execution time per call in ms by host tier; `default` covers tiers not listed. */
  cpuMsPerCall: Record<string, number>;
  /** Memory one replica takes. */
  memoryMib: number;
  stores: StoreAccess[];
  calls: EndpointCall[];
  policy?: EndpointPolicy;
  /** Hosts that run a replica now. */
  current?: string[];
  /** Cost of starting a replica on a host not in `current`, in objective units (see `weights`). */
  moveCost?: number;
}

export interface PlacementProblem {
  sites: string[];
  /** Measured round trip in ms between sites: a square matrix, the diagonal being the in-site round trip. */
  rttMs: number[][];
  hosts: SolverHost[];
  stores: SolverStore[];
  endpoints: SolverEndpoint[];
  /**
   * Cost per byte that crosses from a host or store of one tier to one of another at a different site:
   * `bandwidthCostPerByte[fromTier][toTier]`; missing pairs cost nothing. Bytes within a site are free.
   */
  bandwidthCostPerByte: Record<string, Record<string, number>>;
  /** How the three parts of the objective add up (default 1 each; latency is always weight 1). */
  weights?: { egress?: number; migration?: number };
}

/** Where one endpoint runs. */
export interface EndpointPlacement {
  /** Hosts running a replica. */
  hosts: string[];
  /**
   * For each origin site, the replica that serves the requests entering there, and the calls those requests
   * cause (requests keep to their origin's replicas along the call graph).
   */
  route: string[];
}

/** Endpoint id -> where it runs. */
export type Placement = Record<string, EndpointPlacement>;

/** The objective of a placement, by part. */
export interface Cost {
  total: number;
  /** Traffic-weighted latency in ms x requests/s: origin round trips, execution, store and call round trips. */
  latency: number;
  /** Weighted bandwidth cost of bytes that cross sites. */
  egress: number;
  /** Weighted cost of the replicas started on hosts that do not run them now. */
  migration: number;
}

export type Backend = 'auto' | 'lp-solver' | 'highs' | 'highs-relaxation' | 'heuristic';

export interface Solution {
  placement: Placement;
  /** The objective of `placement`, recomputed from it by `evaluate`. */
  objective: number;
  cost: Cost;
  /** A proven lower bound on the optimum. */
  bound: number;
  /** (objective - bound) / objective; 0 when the objective is 0. */
  gap: number;
  /** Whether `placement` is proven optimal (within the exact backend's tolerance, 1e-6 relative). */
  optimal: boolean;
  timeMs: number;
  /** The backend that ran (`auto` resolved). */
  backend: Exclude<Backend, 'auto'>;
  /** Facts a caller may want to log: backend fallbacks, limits reached. */
  notes: string[];
  /** Dual prices from the bound, reused by a warm re-solve of the same structure. Opaque. */
  prices?: Prices;
}

/**
 * Lagrangian multipliers, tagged with the shape of the problem they price. Typed arrays: the pair multipliers
 * number 2 x pairs x zones (about 80,000 at 2000x50), and a re-solve hands them to the solver thread and back.
 */
export interface Prices {
  shape: string;
  cpu: Float64Array;
  memory: Float64Array;
  pairs: Float64Array;
}
