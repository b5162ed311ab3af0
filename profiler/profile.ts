// The profile contract: what the control plane's ProfileStore answers per endpoint and for the network, as
// the placement loop, `GET /api/profiles` and `roam profile` consume it. docs/profiler.md describes each field.
import type { HistogramSnapshot } from '../core/histogram.ts';

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  /** Decayed number of samples behind the figures. */
  count: number;
}

/** Requests that entered the mesh at one site (at the proxies there). */
export interface OriginProfile {
  site: string;
  requestsPerSecond: number;
  /** Share of requests answered with status >= 500 or failed, 0 to 1. */
  errorRate: number;
  latencyMs: LatencySummary;
}

export interface StoreUse {
  store: string;
  accessesPerRequest: number;
  bytesPerRequest: number;
  /** Mean time of one access as observed from the host(s): the round trip to the store, ms. */
  rttMs: number;
  errorRate: number;
}

export interface StoreProfile extends StoreUse {
  /** The observed round trip from each site the endpoint ran at, ms. */
  rttMsBySite: Record<string, number>;
}

export interface CalleeProfile {
  endpoint: string;
  callsPerRequest: number;
  bytesPerCall: number;
  /** Mean duration of a call as the caller waited for it, ms. */
  meanMs: number;
  errorRate: number;
}

/** How the endpoint ran on one host. */
export interface HostProfile {
  host: string;
  tier: string;
  site: string;
  invocationsPerSecond: number;
  errorRate: number;
  latencyMs: LatencySummary;
  /** Null until an invocation there was sampled. */
  cpuMsPerCall: number | null;
  /** Linear memory of one instance, bytes. */
  memoryBytes: number;
  stores: StoreUse[];
  callees: CalleeProfile[];
}

export interface EndpointProfile {
  endpoint: string;
  /** Served by the legacy service (passthrough, not Wasm yet): only the proxies' view exists. */
  legacy: boolean;
  /** Requests per second entering the mesh (all origins); for an endpoint only other endpoints call, its invocations. */
  requestsPerSecond: number;
  errorRate: number;
  /** End to end as the proxies saw it (or the hosts, for an endpoint only called by others). */
  latencyMs: LatencySummary & { histogram: HistogramSnapshot };
  meanRequestBytes: number;
  meanResponseBytes: number;
  origins: OriginProfile[];
  hosts: HostProfile[];
  /** CPU ms per call on each tier it ran on (sampled invocations). */
  cpuMsPerCallByTier: Record<string, number>;
  /** The largest instance memory among its hosts, bytes. */
  memoryBytes: number;
  stores: StoreProfile[];
  callees: CalleeProfile[];
  /** Effective length of the profile window behind the rates, seconds. */
  windowSeconds: number;
}

export interface SiteDistance {
  from: string;
  to: string;
  /** Median round trip, ms (median over the nodes at `from` that probed `to`). */
  rttMs: number;
  jitterMs: number;
  samples: number;
  lost: number;
  /** Nodes whose probes this combines. */
  probes: number;
}

export interface StoreDistance {
  site: string;
  store: string;
  /** Where the store lives (DataStoreInfo.location). */
  location: string;
  rttMs: number;
  jitterMs: number;
  samples: number;
  lost: number;
  probes: number;
}

export interface Distances {
  sites: SiteDistance[];
  stores: StoreDistance[];
}
