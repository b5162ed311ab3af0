// One decaying window of an endpoint's measurements: per origin site what its proxies saw, per host what ran
// there. Every count decays by the same factor 2^(-elapsed / half-life), so ratios (per request, per call,
// shares) and quantiles stay exact while older traffic weighs less; rates divide by the window's effective
// length. Label values are capped (limits.ts).
import { Histogram, type HistogramSnapshot } from '../core/histogram.ts';
import { scaled } from './histograms.ts';
import { capped, type ProfilerLimits } from './limits.ts';

/** Below this decayed weight an entry is forgotten. */
export const FADED = 1e-3;

export interface OriginAgg {
  requests: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: Histogram;
}

export interface StoreAgg {
  accesses: number;
  errors: number;
  bytes: number;
  timeMs: number;
}

export interface CalleeAgg {
  calls: number;
  errors: number;
  bytes: number;
  timeMs: number;
}

export interface HostAgg {
  tier: string;
  site: string;
  invocations: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: Histogram;
  cpuMicros: number;
  cpuSamples: number;
  /** A gauge: the latest report, not decayed. */
  memoryBytes: number;
  stores: Map<string, StoreAgg>;
  callees: Map<string, CalleeAgg>;
}

export interface OriginDelta {
  requests: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: HistogramSnapshot;
}

export interface ExecutionDelta {
  invocations: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: HistogramSnapshot;
  cpuMicros: number;
  cpuSamples: number;
  memoryBytes: number;
  stores: { store: string; accesses: number; errors: number; bytes: number; timeMs: number }[];
  callees: { callee: string; calls: number; errors: number; bytes: number; timeMs: number }[];
}

/** Adds every number field of `from` to the same field of `into` (the aggregates' counters). */
function addNumbers<T extends object>(into: T, from: object): void {
  for (const k of Object.keys(into) as (keyof T)[]) {
    const v = (from as Record<keyof T, unknown>)[k];
    if (typeof into[k] === 'number' && typeof v === 'number') (into[k] as number) += v;
  }
}

function scaleNumbers<T extends object>(o: T, f: number): void {
  for (const k of Object.keys(o) as (keyof T)[]) {
    if (typeof o[k] === 'number') (o[k] as number) *= f;
  }
}

export class Window {
  readonly halfLifeMs: number;
  readonly origins = new Map<string, OriginAgg>();
  readonly hosts = new Map<string, HostAgg>();
  private readonly limits: ProfilerLimits;

  constructor(halfLifeMs: number, limits: ProfilerLimits) {
    this.halfLifeMs = halfLifeMs;
    this.limits = limits;
  }

  /** Effective length in seconds of a window that has seen traffic for `ageMs`: the integral of the decay. */
  seconds(ageMs: number): number {
    const h = this.halfLifeMs / 1000;
    return (h / Math.LN2) * (1 - 2 ** (-Math.max(ageMs, 1) / this.halfLifeMs));
  }

  /** Ages every count by `elapsedMs`; entries that faded out are dropped. */
  decay(elapsedMs: number): void {
    if (elapsedMs <= 0) return;
    const f = 2 ** (-elapsedMs / this.halfLifeMs);
    for (const [site, o] of this.origins) {
      if (o.requests * f < FADED) {
        this.origins.delete(site);
        continue;
      }
      scaleNumbers(o, f);
      o.latency = scaled(o.latency, f);
    }
    for (const [id, h] of this.hosts) {
      if (h.invocations * f < FADED) {
        this.hosts.delete(id);
        continue;
      }
      const memory = h.memoryBytes;
      scaleNumbers(h, f);
      h.memoryBytes = memory;
      h.latency = scaled(h.latency, f);
      for (const [k, s] of h.stores) {
        if (s.accesses * f < FADED) h.stores.delete(k);
        else scaleNumbers(s, f);
      }
      for (const [k, c] of h.callees) {
        if (c.calls * f < FADED) h.callees.delete(k);
        else scaleNumbers(c, f);
      }
    }
  }

  get weight(): number {
    let w = 0;
    for (const o of this.origins.values()) w += o.requests;
    for (const h of this.hosts.values()) w += h.invocations;
    return w;
  }

  addOrigin(site: string, d: OriginDelta): void {
    const o = capped(this.origins, site, this.limits.maxOrigins, () => ({
      requests: 0,
      errors: 0,
      requestBytes: 0,
      responseBytes: 0,
      latency: new Histogram(),
    }));
    addNumbers(o, d);
    o.latency.merge(d.latency);
  }

  addExecution(host: string, tier: string, site: string, d: ExecutionDelta): void {
    const h = capped(this.hosts, host, this.limits.maxHosts, () => ({
      tier,
      site,
      invocations: 0,
      errors: 0,
      requestBytes: 0,
      responseBytes: 0,
      latency: new Histogram(),
      cpuMicros: 0,
      cpuSamples: 0,
      memoryBytes: 0,
      stores: new Map(),
      callees: new Map(),
    }));
    const memory = h.memoryBytes;
    addNumbers(h, d);
    // Memory is a gauge: the latest report stands.
    h.memoryBytes = d.memoryBytes > 0 ? d.memoryBytes : memory;
    h.latency.merge(d.latency);
    for (const s of d.stores) {
      addNumbers(
        capped(h.stores, s.store, this.limits.maxStores, () => ({
          accesses: 0,
          errors: 0,
          bytes: 0,
          timeMs: 0,
        })),
        s,
      );
    }
    for (const c of d.callees) {
      addNumbers(
        capped(h.callees, c.callee, this.limits.maxCallees, () => ({
          calls: 0,
          errors: 0,
          bytes: 0,
          timeMs: 0,
        })),
        c,
      );
    }
  }
}
