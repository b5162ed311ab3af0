// The ProfileStore lives in the control plane: it ingests the report batches proxies and hosts stream,
// merges them across nodes into per-endpoint decaying windows (window.ts), answers profiles() and
// distances() for the placement loop and the admin API, and raises drift events (drift.ts). Memory is
// bounded by the caps in limits.ts whatever the reports carry.
import type { ProbeReportMsg, ReportBatchMsg } from '../control-plane/proto.ts';
import { InvalidArgumentError, NotFoundError } from '../core/errors.ts';
import { Histogram } from '../core/histogram.ts';
import { DriftDetector, type DriftListener, type DriftThresholds, type WindowSummary } from './drift.ts';
import { fromWire } from './histograms.ts';
import { DEFAULT_PROFILER_LIMITS, type ProfilerLimits } from './limits.ts';
import type {
  CalleeProfile,
  Distances,
  EndpointProfile,
  HostProfile,
  LatencySummary,
  SiteDistance,
  StoreDistance,
  StoreProfile,
  StoreUse,
} from './profile.ts';
import { type HostAgg, Window } from './window.ts';

/** What the store needs to know about a reporting node (from the control plane's registry). */
export interface NodeInfo {
  id: string;
  kind: 'proxy' | 'host';
  tier: string;
  /** The node's location: its site. */
  site: string;
}

export interface ProfileStoreOptions {
  /** Looks a node up by id; reports from unknown nodes are not taken. */
  node(id: string): NodeInfo | undefined;
  /** The clock, ms since the epoch (injected so tests can run hours of traffic in a moment). */
  now?: () => number;
  /** Half-life of the profile window (default 30 s). */
  halfLifeMs?: number;
  /** Half-life of the baseline window drift compares against (default 5 min). */
  baselineHalfLifeMs?: number;
  /** Probe results older than this are forgotten (default 2 min). */
  distanceTtlMs?: number;
  drift?: Partial<DriftThresholds>;
  limits?: Partial<ProfilerLimits>;
}

interface Entry {
  name: string;
  legacy: boolean;
  firstSeen: number;
  at: number;
  recent: Window;
  baseline: Window;
}

interface ProbeEntry {
  fromSite: string;
  kind: 'node' | 'store';
  /** The target's site (nodes) or the store's name. */
  to: string;
  location: string;
  result: ProbeReportMsg;
  at: number;
}

function nonNegative(v: unknown, where: string): number {
  const n = Number(v ?? 0);
  if (!Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`${where} must be a finite number >= 0, got ${v}`);
  return n;
}

function latencySummary(h: Histogram): LatencySummary {
  return {
    p50: h.quantile(0.5),
    p90: h.quantile(0.9),
    p99: h.quantile(0.99),
    mean: h.count > 0 ? h.sum / h.count : 0,
    count: h.count,
  };
}

const div = (a: number, b: number) => (b > 0 ? a / b : 0);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? 0 : n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export class ProfileStore {
  private readonly options: ProfileStoreOptions;
  private readonly limits: ProfilerLimits;
  private readonly now: () => number;
  private readonly halfLifeMs: number;
  private readonly baselineHalfLifeMs: number;
  private readonly distanceTtlMs: number;
  private readonly entries = new Map<string, Entry>();
  /** Per reporting node and target, the latest probe summary. */
  private readonly probes = new Map<string, ProbeEntry>();
  private readonly detector: DriftDetector;
  private readonly listeners = new Set<DriftListener>();
  /** Records refused at the caps (here and, as reported, at the nodes). */
  dropped = 0;

  constructor(options: ProfileStoreOptions) {
    this.options = options;
    this.limits = { ...DEFAULT_PROFILER_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
    this.halfLifeMs = options.halfLifeMs ?? 30_000;
    this.baselineHalfLifeMs = options.baselineHalfLifeMs ?? 300_000;
    this.distanceTtlMs = options.distanceTtlMs ?? 120_000;
    this.detector = new DriftDetector(options.drift);
  }

  /** Calls `listener` with every drift event; returns the function that unsubscribes it. */
  onDrift(listener: DriftListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private name(v: unknown, where: string): string {
    if (typeof v !== 'string' || v === '' || v.length > this.limits.maxNameLength) {
      throw new InvalidArgumentError(
        `${where} must be a name of 1 to ${this.limits.maxNameLength} characters`,
      );
    }
    return v;
  }

  /** The endpoint's entry, aged to `now`; undefined past the endpoint cap (the record is dropped). */
  private entry(name: string, legacy: boolean, now: number, intervalMs: number): Entry | undefined {
    let e = this.entries.get(name);
    if (e === undefined) {
      if (this.entries.size >= this.limits.maxEndpoints) this.prune(now);
      if (this.entries.size >= this.limits.maxEndpoints) {
        this.dropped++;
        return undefined;
      }
      e = {
        name,
        legacy,
        firstSeen: now - intervalMs,
        at: now,
        recent: new Window(this.halfLifeMs, this.limits),
        baseline: new Window(this.baselineHalfLifeMs, this.limits),
      };
      this.entries.set(name, e);
    }
    this.age(e, now);
    // An endpoint that moved out of the legacy service into Wasm stops being legacy with its first Wasm report.
    e.legacy = legacy;
    return e;
  }

  private age(e: Entry, now: number): void {
    e.recent.decay(now - e.at);
    e.baseline.decay(now - e.at);
    e.at = Math.max(e.at, now);
  }

  /** Forgets endpoints whose traffic faded out of both windows. */
  private prune(now: number): void {
    for (const [name, e] of this.entries) {
      this.age(e, now);
      if (e.baseline.weight === 0) {
        this.entries.delete(name);
        this.detector.forget(name);
      }
    }
  }

  /**
   * Takes one node's batch: validates it whole first (a bad batch is refused with the field named, and
   * nothing of it is kept), then merges it. Returns how many records were taken.
   */
  ingest(batch: ReportBatchMsg): number {
    const node = this.options.node(batch.nodeId);
    if (node === undefined) return 0;
    const now = this.now();
    const intervalMs = nonNegative(batch.intervalMs, 'interval_ms');
    const origins = (batch.origins ?? []).map((o, i) => {
      const at = `origins[${i}]`;
      return {
        endpoint: this.name(o.endpoint, `${at}.endpoint`),
        legacy: Boolean(o.legacy),
        requests: nonNegative(o.requests, `${at}.requests`),
        errors: nonNegative(o.errors, `${at}.errors`),
        requestBytes: nonNegative(o.requestBytes, `${at}.request_bytes`),
        responseBytes: nonNegative(o.responseBytes, `${at}.response_bytes`),
        latency: fromWire(o.latency, `${at}.latency`),
      };
    });
    const executions = (batch.executions ?? []).map((x, i) => {
      const at = `executions[${i}]`;
      return {
        endpoint: this.name(x.endpoint, `${at}.endpoint`),
        invocations: nonNegative(x.invocations, `${at}.invocations`),
        errors: nonNegative(x.errors, `${at}.errors`),
        requestBytes: nonNegative(x.requestBytes, `${at}.request_bytes`),
        responseBytes: nonNegative(x.responseBytes, `${at}.response_bytes`),
        latency: fromWire(x.latency, `${at}.latency`),
        cpuMicros: nonNegative(x.cpuMicros, `${at}.cpu_micros`),
        cpuSamples: nonNegative(x.cpuSamples, `${at}.cpu_samples`),
        memoryBytes: nonNegative(x.memoryBytes, `${at}.memory_bytes`),
        stores: (x.stores ?? []).map((s, j) => ({
          store: this.name(s.store, `${at}.stores[${j}].store`),
          accesses: nonNegative(s.accesses, `${at}.stores[${j}].accesses`),
          errors: nonNegative(s.errors, `${at}.stores[${j}].errors`),
          bytes: nonNegative(s.bytes, `${at}.stores[${j}].bytes`),
          timeMs: nonNegative(s.timeMs, `${at}.stores[${j}].time_ms`),
        })),
        callees: (x.callees ?? []).map((c, j) => ({
          callee: this.name(c.callee, `${at}.callees[${j}].callee`),
          calls: nonNegative(c.calls, `${at}.callees[${j}].calls`),
          errors: nonNegative(c.errors, `${at}.callees[${j}].errors`),
          bytes: nonNegative(c.bytes, `${at}.callees[${j}].bytes`),
          timeMs: nonNegative(c.timeMs, `${at}.callees[${j}].time_ms`),
        })),
      };
    });
    const probes = (batch.probes ?? []).map((p, i) => {
      const at = `probes[${i}]`;
      if (p.kind !== 'node' && p.kind !== 'store')
        throw new InvalidArgumentError(`${at}.kind must be "node" or "store"`);
      return {
        kind: p.kind,
        target: this.name(p.target, `${at}.target`),
        location: String(p.location ?? '').slice(0, this.limits.maxNameLength),
        rttMs: nonNegative(p.rttMs, `${at}.rtt_ms`),
        jitterMs: nonNegative(p.jitterMs, `${at}.jitter_ms`),
        samples: nonNegative(p.samples, `${at}.samples`),
        lost: nonNegative(p.lost, `${at}.lost`),
      };
    });
    this.dropped += nonNegative(batch.dropped, 'dropped');

    const touched = new Set<Entry>();
    for (const o of origins) {
      const e = this.entry(o.endpoint, o.legacy, now, intervalMs);
      if (!e) continue;
      e.recent.addOrigin(node.site, o);
      e.baseline.addOrigin(node.site, o);
      touched.add(e);
    }
    for (const x of executions) {
      const e = this.entry(x.endpoint, false, now, intervalMs);
      if (!e) continue;
      e.recent.addExecution(node.id, node.tier, node.site, x);
      e.baseline.addExecution(node.id, node.tier, node.site, x);
      touched.add(e);
    }
    for (const p of probes) this.addProbe(node, p, now);
    for (const e of touched) this.checkDrift(e, now);
    return origins.length + executions.length + probes.length;
  }

  private addProbe(node: NodeInfo, p: ProbeReportMsg, now: number): void {
    const to = p.kind === 'node' ? this.options.node(p.target)?.site : p.target;
    if (to === undefined || p.samples === 0) return;
    const key = `${node.id}\u0000${p.kind}\u0000${p.target}\u0000${p.location}`;
    if (!this.probes.has(key) && this.probes.size >= this.limits.maxDistances) {
      this.expireProbes(now);
      if (this.probes.size >= this.limits.maxDistances) {
        this.dropped++;
        return;
      }
    }
    this.probes.set(key, { fromSite: node.site, kind: p.kind, to, location: p.location, result: p, at: now });
  }

  private expireProbes(now: number): void {
    for (const [k, p] of this.probes) if (now - p.at > this.distanceTtlMs) this.probes.delete(k);
  }

  private summary(e: Entry, w: Window, now: number): WindowSummary {
    const seconds = w.seconds(now - e.firstSeen);
    let requests = 0;
    const originShares: Record<string, number> = {};
    const latency = new Histogram();
    for (const [site, o] of w.origins) {
      requests += o.requests;
      originShares[site] = o.requests;
      latency.merge(o.latency.snapshot());
    }
    let invocations = 0;
    const accesses: Record<string, number> = {};
    for (const h of w.hosts.values()) {
      invocations += h.invocations;
      for (const [store, s] of h.stores) accesses[store] = (accesses[store] ?? 0) + s.accesses;
      if (w.origins.size === 0) latency.merge(h.latency.snapshot());
    }
    for (const site of Object.keys(originShares)) originShares[site] = div(originShares[site]!, requests);
    for (const store of Object.keys(accesses)) accesses[store] = div(accesses[store]!, invocations);
    const weight = w.origins.size > 0 ? requests : invocations;
    return {
      requests: weight,
      requestsPerSecond: div(weight, seconds),
      originShares,
      accessesPerRequest: accesses,
      p90Ms: latency.quantile(0.9),
    };
  }

  private checkDrift(e: Entry, now: number): void {
    if (now - e.firstSeen < this.detector.warmupMs || this.listeners.size === 0) return;
    const events = this.detector.check(
      e.name,
      this.summary(e, e.recent, now),
      this.summary(e, e.baseline, now),
      now,
    );
    for (const ev of events) for (const l of this.listeners) l(ev);
  }

  private hostProfile(id: string, h: HostAgg, seconds: number): HostProfile {
    const stores: StoreUse[] = [...h.stores].map(([store, s]) => ({
      store,
      accessesPerRequest: div(s.accesses, h.invocations),
      bytesPerRequest: div(s.bytes, h.invocations),
      rttMs: div(s.timeMs, s.accesses),
      errorRate: div(s.errors, s.accesses),
    }));
    const callees: CalleeProfile[] = [...h.callees].map(([endpoint, c]) => ({
      endpoint,
      callsPerRequest: div(c.calls, h.invocations),
      bytesPerCall: div(c.bytes, c.calls),
      meanMs: div(c.timeMs, c.calls),
      errorRate: div(c.errors, c.calls),
    }));
    return {
      host: id,
      tier: h.tier,
      site: h.site,
      invocationsPerSecond: div(h.invocations, seconds),
      errorRate: div(h.errors, h.invocations),
      latencyMs: latencySummary(h.latency),
      cpuMsPerCall: h.cpuSamples > 0 ? h.cpuMicros / h.cpuSamples / 1000 : null,
      memoryBytes: h.memoryBytes,
      stores,
      callees,
    };
  }

  private build(e: Entry, now: number): EndpointProfile {
    const w = e.recent;
    const seconds = w.seconds(now - e.firstSeen);
    const latency = new Histogram();
    let requests = 0;
    let errors = 0;
    let requestBytes = 0;
    let responseBytes = 0;
    const origins = [...w.origins].map(([site, o]) => {
      requests += o.requests;
      errors += o.errors;
      requestBytes += o.requestBytes;
      responseBytes += o.responseBytes;
      latency.merge(o.latency.snapshot());
      return {
        site,
        requestsPerSecond: div(o.requests, seconds),
        errorRate: div(o.errors, o.requests),
        latencyMs: latencySummary(o.latency),
      };
    });
    const hosts = [...w.hosts].map(([id, h]) => this.hostProfile(id, h, seconds));

    // Endpoint-wide figures over every host, weighted by what ran where.
    let invocations = 0;
    let hostErrors = 0;
    let hostRequestBytes = 0;
    let hostResponseBytes = 0;
    const cpu = new Map<string, { micros: number; samples: number }>();
    const stores = new Map<
      string,
      {
        accesses: number;
        bytes: number;
        timeMs: number;
        errors: number;
        bySite: Map<string, { accesses: number; timeMs: number }>;
      }
    >();
    const callees = new Map<string, { calls: number; bytes: number; timeMs: number; errors: number }>();
    let memoryBytes = 0;
    for (const h of w.hosts.values()) {
      invocations += h.invocations;
      hostErrors += h.errors;
      hostRequestBytes += h.requestBytes;
      hostResponseBytes += h.responseBytes;
      memoryBytes = Math.max(memoryBytes, h.memoryBytes);
      const c = cpu.get(h.tier) ?? { micros: 0, samples: 0 };
      c.micros += h.cpuMicros;
      c.samples += h.cpuSamples;
      cpu.set(h.tier, c);
      for (const [name, s] of h.stores) {
        let agg = stores.get(name);
        if (!agg) {
          agg = { accesses: 0, bytes: 0, timeMs: 0, errors: 0, bySite: new Map() };
          stores.set(name, agg);
        }
        agg.accesses += s.accesses;
        agg.bytes += s.bytes;
        agg.timeMs += s.timeMs;
        agg.errors += s.errors;
        const site = agg.bySite.get(h.site) ?? { accesses: 0, timeMs: 0 };
        site.accesses += s.accesses;
        site.timeMs += s.timeMs;
        agg.bySite.set(h.site, site);
      }
      for (const [name, cc] of h.callees) {
        const agg = callees.get(name) ?? { calls: 0, bytes: 0, timeMs: 0, errors: 0 };
        agg.calls += cc.calls;
        agg.bytes += cc.bytes;
        agg.timeMs += cc.timeMs;
        agg.errors += cc.errors;
        callees.set(name, agg);
      }
    }
    if (w.origins.size === 0) for (const h of w.hosts.values()) latency.merge(h.latency.snapshot());
    const viaProxies = requests > 0;
    const storeProfiles: StoreProfile[] = [...stores].map(([store, s]) => ({
      store,
      accessesPerRequest: div(s.accesses, invocations),
      bytesPerRequest: div(s.bytes, invocations),
      rttMs: div(s.timeMs, s.accesses),
      errorRate: div(s.errors, s.accesses),
      rttMsBySite: Object.fromEntries([...s.bySite].map(([site, v]) => [site, div(v.timeMs, v.accesses)])),
    }));
    return {
      endpoint: e.name,
      legacy: e.legacy && w.hosts.size === 0,
      requestsPerSecond: div(viaProxies ? requests : invocations, seconds),
      errorRate: viaProxies ? div(errors, requests) : div(hostErrors, invocations),
      latencyMs: { ...latencySummary(latency), histogram: latency.snapshot() },
      meanRequestBytes: viaProxies ? div(requestBytes, requests) : div(hostRequestBytes, invocations),
      meanResponseBytes: viaProxies ? div(responseBytes, requests) : div(hostResponseBytes, invocations),
      origins: origins.sort((a, b) => b.requestsPerSecond - a.requestsPerSecond),
      hosts: hosts.sort((a, b) => b.invocationsPerSecond - a.invocationsPerSecond),
      cpuMsPerCallByTier: Object.fromEntries(
        [...cpu].filter(([, c]) => c.samples > 0).map(([tier, c]) => [tier, c.micros / c.samples / 1000]),
      ),
      memoryBytes,
      stores: storeProfiles,
      callees: [...callees].map(([endpoint, c]) => ({
        endpoint,
        callsPerRequest: div(c.calls, invocations),
        bytesPerCall: div(c.bytes, c.calls),
        meanMs: div(c.timeMs, c.calls),
        errorRate: div(c.errors, c.calls),
      })),
      windowSeconds: seconds,
    };
  }

  /** Every endpoint with traffic in the window, busiest first. */
  profiles(): EndpointProfile[] {
    const now = this.now();
    this.prune(now);
    return [...this.entries.values()]
      .map((e) => this.build(e, now))
      .sort((a, b) => b.requestsPerSecond - a.requestsPerSecond || a.endpoint.localeCompare(b.endpoint));
  }

  /** One endpoint's profile; NotFoundError when nothing was measured for it in the window. */
  profile(endpoint: string): EndpointProfile {
    const now = this.now();
    const e = this.entries.get(endpoint);
    if (e) this.age(e, now);
    if (!e || e.baseline.weight === 0) {
      throw new NotFoundError(`no profile for "${endpoint}": no traffic to it was measured recently`, {
        endpoint,
      });
    }
    return this.build(e, now);
  }

  /** Site-to-site and site-to-store round trips from the nodes' active probes. */
  distances(): Distances {
    const now = this.now();
    this.expireProbes(now);
    const groups = new Map<string, ProbeEntry[]>();
    for (const p of this.probes.values()) {
      const k = `${p.kind}\u0000${p.fromSite}\u0000${p.to}\u0000${p.kind === 'store' ? p.location : ''}`;
      const g = groups.get(k);
      if (g) g.push(p);
      else groups.set(k, [p]);
    }
    const sites: SiteDistance[] = [];
    const stores: StoreDistance[] = [];
    for (const g of groups.values()) {
      const first = g[0]!;
      const combined = {
        rttMs: median(g.map((p) => p.result.rttMs)),
        jitterMs: g.reduce((n, p) => n + p.result.jitterMs, 0) / g.length,
        samples: g.reduce((n, p) => n + p.result.samples, 0),
        lost: g.reduce((n, p) => n + p.result.lost, 0),
        probes: g.length,
      };
      if (first.kind === 'node') sites.push({ from: first.fromSite, to: first.to, ...combined });
      else stores.push({ site: first.fromSite, store: first.to, location: first.location, ...combined });
    }
    sites.sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
    stores.sort((a, b) => a.site.localeCompare(b.site) || a.store.localeCompare(b.store));
    return { sites, stores };
  }

  /** Sizes of what the store holds, for tests of its bounds. */
  size(): {
    endpoints: number;
    origins: number;
    hosts: number;
    stores: number;
    callees: number;
    probes: number;
  } {
    let origins = 0;
    let hosts = 0;
    let stores = 0;
    let callees = 0;
    for (const e of this.entries.values()) {
      for (const w of [e.recent, e.baseline]) {
        origins += w.origins.size;
        hosts += w.hosts.size;
        for (const h of w.hosts.values()) {
          stores += h.stores.size;
          callees += h.callees.size;
        }
      }
    }
    return { endpoints: this.entries.size, origins, hosts, stores, callees, probes: this.probes.size };
  }
}
