// Cardinality caps: how many distinct label values the profiler keeps, whatever the traffic brings. Past a
// cap new values share one "(other)" entry (or, for endpoints, are counted as dropped), so memory stays
// bounded by the caps and not by the number of paths, callers or stores the mesh ever sees.

export interface ProfilerLimits {
  /** Endpoints (and legacy route templates) with a profile. */
  maxEndpoints: number;
  /** Origin sites per endpoint. */
  maxOrigins: number;
  /** Hosts per endpoint. */
  maxHosts: number;
  /** Data stores per endpoint and host. */
  maxStores: number;
  /** Callee endpoints per endpoint and host. */
  maxCallees: number;
  /** Measured site-to-site and site-to-store distances. */
  maxDistances: number;
  /** Longest label value kept (endpoint, site, store names); longer ones are refused. */
  maxNameLength: number;
}

export const DEFAULT_PROFILER_LIMITS: ProfilerLimits = {
  maxEndpoints: 2000,
  maxOrigins: 64,
  maxHosts: 64,
  maxStores: 32,
  maxCallees: 64,
  maxDistances: 4096,
  maxNameLength: 256,
};

/** The shared entry that label values past a cap fold into. */
export const OTHER = '(other)';

/** `map.get(key)`, making the entry if the map is under `cap`, else the "(other)" entry (`make` gets the key used). */
export function capped<V>(map: Map<string, V>, key: string, cap: number, make: (key: string) => V): V {
  let v = map.get(key);
  if (v !== undefined) return v;
  const k = map.size < cap ? key : OTHER;
  v = map.get(k);
  if (v === undefined) {
    v = make(k);
    map.set(k, v);
  }
  return v;
}
