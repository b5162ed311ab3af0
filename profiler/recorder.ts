// The node side of the profiler, in every proxy and host: cumulative counters of what entered the node (a
// proxy's origin view, per endpoint and per legacy route template) and of what ran on it (its Wasm host's
// exact accounting), turned into delta batches for the control plane's report stream, and read as they are
// by the OpenTelemetry instruments (metrics.ts). Recording a request costs a few additions and one
// histogram bucket; nothing here runs per request when profiling is off (the proxy has no recorder then).
import type { ExecutionReportMsg, OriginReportMsg, ReportBatchMsg } from '../control-plane/proto.ts';
import { Histogram, type HistogramSnapshot } from '../core/histogram.ts';
import type { RequestRecorder } from '../proxy/telemetry.ts';
import type { EndpointStats, WasmHost } from '../wasm-host/index.ts';
import { histogramDelta, toWire } from './histograms.ts';
import { RouteTemplates } from './legacy-route.ts';
import { capped, DEFAULT_PROFILER_LIMITS, type ProfilerLimits } from './limits.ts';
import type { NetworkProber } from './probes.ts';

/** Cumulative figures of one endpoint (or legacy route) as this node's clients saw it. */
export interface OriginTotals {
  endpoint: string;
  legacy: boolean;
  requests: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: Histogram;
}

interface OriginSent {
  requests: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: HistogramSnapshot;
}

export interface NodeProfilerOptions {
  /** The Wasm host whose invocations this node reports (a standalone host, or a proxy's embedded one). */
  host?: WasmHost;
  prober?: NetworkProber;
  limits?: Partial<ProfilerLimits>;
}

export class NodeProfiler implements RequestRecorder {
  readonly host: WasmHost | undefined;
  readonly prober: NetworkProber | undefined;
  private readonly limits: ProfilerLimits;
  /** Per endpoint or legacy route template; keys past the cap share "(other)". */
  readonly origins = new Map<string, OriginTotals>();
  private readonly templates = new RouteTemplates();
  private readonly originSent = new Map<string, OriginSent>();
  private readonly executionSent = new Map<string, EndpointStats['usage'] & { latency: HistogramSnapshot }>();
  private lastBatchAt = performance.now();
  private dropped = 0;

  constructor(options: NodeProfilerOptions = {}) {
    this.host = options.host;
    this.prober = options.prober;
    this.limits = { ...DEFAULT_PROFILER_LIMITS, ...options.limits };
  }

  private totals(key: string, legacy: boolean): OriginTotals {
    const t = capped(this.origins, key, this.limits.maxEndpoints, (k) => ({
      endpoint: k,
      legacy,
      requests: 0,
      errors: 0,
      requestBytes: 0,
      responseBytes: 0,
      latency: new Histogram(),
    }));
    if (t.endpoint !== key) this.dropped++;
    return t;
  }

  endpointRequest(
    endpoint: string,
    legacy: boolean,
    status: number,
    ms: number,
    requestBytes: number,
    responseBytes: number,
  ): void {
    const t = this.totals(endpoint, legacy);
    t.legacy = legacy;
    t.requests++;
    if (status >= 500) t.errors++;
    t.requestBytes += requestBytes;
    t.responseBytes += responseBytes;
    t.latency.record(ms);
  }

  passthroughRequest(
    url: string,
    status: number,
    ms: number,
    requestBytes: number,
    responseBytes: number,
  ): void {
    this.endpointRequest(this.templates.of(url), true, status, ms, requestBytes, responseBytes);
  }

  private originDeltas(): OriginReportMsg[] {
    const out: OriginReportMsg[] = [];
    for (const [key, t] of this.origins) {
      const prev = this.originSent.get(key);
      const latency = t.latency.snapshot();
      if (prev !== undefined && prev.requests === t.requests) continue;
      out.push({
        endpoint: t.endpoint,
        legacy: t.legacy,
        requests: t.requests - (prev?.requests ?? 0),
        errors: t.errors - (prev?.errors ?? 0),
        requestBytes: t.requestBytes - (prev?.requestBytes ?? 0),
        responseBytes: t.responseBytes - (prev?.responseBytes ?? 0),
        latency: toWire(histogramDelta(latency, prev?.latency)),
      });
      this.originSent.set(key, {
        requests: t.requests,
        errors: t.errors,
        requestBytes: t.requestBytes,
        responseBytes: t.responseBytes,
        latency,
      });
    }
    return out;
  }

  private executionDeltas(): ExecutionReportMsg[] {
    if (this.host === undefined) return [];
    const out: ExecutionReportMsg[] = [];
    for (const st of this.host.stats()) {
      const u = st.usage;
      const prev = this.executionSent.get(st.endpoint);
      if (prev !== undefined && prev.invocations === u.invocations) continue;
      const stores = Object.entries(u.stores).map(([store, s]) => {
        const p = prev?.stores[store];
        const ops = (x: typeof s | undefined) => (x ? x.gets + x.puts + x.deletes + x.lists : 0);
        return {
          store,
          accesses: ops(s) - ops(p),
          errors: s.errors - (p?.errors ?? 0),
          bytes: s.bytesSent + s.bytesReceived - (p ? p.bytesSent + p.bytesReceived : 0),
          timeMs: s.timeMs - (p?.timeMs ?? 0),
        };
      });
      const callees = Object.entries(u.callees).map(([callee, c]) => {
        const p = prev?.callees[callee];
        return {
          callee,
          calls: c.calls - (p?.calls ?? 0),
          errors: c.errors - (p?.errors ?? 0),
          bytes: c.requestBytes + c.responseBytes - (p ? p.requestBytes + p.responseBytes : 0),
          timeMs: c.timeMs - (p?.timeMs ?? 0),
        };
      });
      out.push({
        endpoint: st.endpoint,
        invocations: u.invocations - (prev?.invocations ?? 0),
        errors: u.errors - (prev?.errors ?? 0),
        requestBytes: u.requestBytes - (prev?.requestBytes ?? 0),
        responseBytes: u.responseBytes - (prev?.responseBytes ?? 0),
        latency: toWire(histogramDelta(st.latency.histogram, prev?.latency)),
        cpuMicros: u.cpuMicros - (prev?.cpuMicros ?? 0),
        cpuSamples: u.cpuSamples - (prev?.cpuSamples ?? 0),
        memoryBytes: u.memoryBytes,
        stores: stores.filter((s) => s.accesses > 0),
        callees: callees.filter((c) => c.calls > 0),
      });
      this.executionSent.set(st.endpoint, { ...structuredClone(u), latency: st.latency.histogram });
    }
    return out;
  }

  /** Everything measured since the previous batch. */
  batch(nodeId: string): ReportBatchMsg {
    const now = performance.now();
    const batch: ReportBatchMsg = {
      nodeId,
      intervalMs: now - this.lastBatchAt,
      origins: this.originDeltas(),
      executions: this.executionDeltas(),
      probes: this.prober?.results() ?? [],
      dropped: this.dropped,
    };
    this.lastBatchAt = now;
    this.dropped = 0;
    return batch;
  }
}
