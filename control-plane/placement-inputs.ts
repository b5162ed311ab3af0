// Feeds the placement loop and the migration verify step from the profiler's store: profiles in the units the
// solver wants, measured distances, and how a set of replicas of an endpoint is doing now.
import type { Distances, EndpointProfile, ProfileStore } from '../profiler/index.ts';
import type { TargetObservation } from './migration.ts';
import type { LoopInputs } from './placement-loop.ts';
import type { ObservedEndpoint, ObservedNetwork } from './placement-problem.ts';

const MIB = 1024 * 1024;

export function observedEndpoint(p: EndpointProfile): ObservedEndpoint {
  return {
    endpoint: p.endpoint,
    ratePerOrigin: Object.fromEntries(p.origins.map((o) => [o.site, o.requestsPerSecond])),
    cpuMsPerCall: p.cpuMsPerCallByTier,
    memoryMib: Math.max(1, Math.ceil(p.memoryBytes / MIB)),
    stores: p.stores.map((s) => ({
      store: s.store,
      perRequest: s.accessesPerRequest,
      bytesPerRequest: s.bytesPerRequest,
    })),
    calls: p.callees.map((c) => ({
      to: c.endpoint,
      perRequest: c.callsPerRequest,
      bytesPerCall: c.bytesPerCall,
    })),
    measuredOnHosts: p.hosts.length > 0,
  };
}

export function observedNetwork(d: Distances): ObservedNetwork {
  const sites = new Map<string, number>();
  for (const s of d.sites) sites.set(`${s.from}|${s.to}`, s.rttMs);
  const stores = new Map<string, number>();
  for (const s of d.stores) stores.set(`${s.site}|${s.store}`, s.rttMs);
  return {
    // Probes run both ways; either direction is the round trip.
    siteRttMs: (a, b) => sites.get(`${a}|${b}`) ?? sites.get(`${b}|${a}`),
    storeRttMs: (site, store) => stores.get(`${site}|${store}`),
  };
}

/** One endpoint's profile (built alone, not with every other's), or undefined if nothing was measured. */
function profileOf(profiles: ProfileStore, endpoint: string): EndpointProfile | undefined {
  try {
    return profiles.profile(endpoint);
  } catch {
    return undefined;
  }
}

/** The loop's inputs: every endpoint the Wasm hosts run (legacy ones are profiled but not placed). */
export function loopInputs(profiles: ProfileStore, isLeader: () => boolean): LoopInputs {
  return {
    observed: () =>
      new Map(
        profiles
          .profiles()
          .filter((p) => !p.legacy)
          .map((p) => [p.endpoint, observedEndpoint(p)]),
      ),
    network: () => observedNetwork(profiles.distances()),
    latencyMs: (endpoint) => {
      const p = profileOf(profiles, endpoint);
      return p && p.latencyMs.count > 0 ? p.latencyMs.mean : undefined;
    },
    isLeader,
  };
}

/** How the replicas `hostIds` of `endpoint` are doing, from the hosts' own reports (decayed counts). */
export function observeReplicas(
  profiles: ProfileStore,
  endpoint: string,
  hostIds: string[],
): TargetObservation | undefined {
  const p = profileOf(profiles, endpoint);
  const hosts = p?.hosts.filter((h) => hostIds.includes(h.host)) ?? [];
  if (hosts.length === 0) return undefined;
  const requests = hosts.reduce((n, h) => n + h.latencyMs.count, 0);
  const errors = hosts.reduce((n, h) => n + h.errorRate * h.latencyMs.count, 0);
  const p50Ms = Math.max(...hosts.map((h) => h.latencyMs.p50));
  const p99Ms = Math.max(...hosts.map((h) => h.latencyMs.p99));
  return { requests, errors, p50Ms, p99Ms };
}
