// The profile's figures as OpenTelemetry metrics, through @opentelemetry/api only (the SDK and its Prometheus
// reader are wired by core/telemetry.ts). Every instrument is observable: its callback reads the recorder's
// cumulative counters when a reader collects, so exporting costs the request path nothing. Semantic-convention
// names where one exists (http.client.request.duration, already per endpoint and tier in proxy/telemetry.ts);
// roam.* for the rest. docs/profiler.md lists each series and its Prometheus name.
import { type Attributes, type BatchObservableResult, type Meter, metrics } from '@opentelemetry/api';
import type { NodeProfiler } from './recorder.ts';

/** One node's instruments: origin view, execution cost and data access of its host, probe results. */
export function registerNodeMetrics(
  profiler: NodeProfiler,
  node: { id: string; tier: string; site: string },
  meter: Meter = metrics.getMeter('roam-profiler'),
): void {
  const requests = meter.createObservableCounter('roam.endpoint.requests', {
    unit: '{request}',
    description:
      'Requests that entered the mesh at this proxy, per endpoint (or legacy route) and origin site.',
  });
  const errors = meter.createObservableCounter('roam.endpoint.errors', {
    unit: '{request}',
    description: 'Requests answered with status >= 500 or failed, per endpoint and origin site.',
  });
  const requestBytes = meter.createObservableCounter('roam.endpoint.request.bytes', {
    unit: 'By',
    description: 'Request body bytes, per endpoint and origin site.',
  });
  const responseBytes = meter.createObservableCounter('roam.endpoint.response.bytes', {
    unit: 'By',
    description: 'Response body bytes, per endpoint and origin site.',
  });
  const invocations = meter.createObservableCounter('roam.endpoint.invocations', {
    unit: '{invocation}',
    description: 'Invocations run on this host, per endpoint.',
  });
  const cpu = meter.createObservableGauge('roam.endpoint.cpu.per_call', {
    unit: 'ms',
    description: 'CPU time per invocation on the thread that ran it (sampled), per endpoint and host.',
  });
  const memory = meter.createObservableGauge('roam.endpoint.memory.usage', {
    unit: 'By',
    description: 'Linear memory of an instance, per endpoint and host.',
  });
  const storeAccesses = meter.createObservableCounter('roam.store.accesses', {
    unit: '{access}',
    description: 'Data store operations (get, put, delete, list), per endpoint, store and host.',
  });
  const storeBytes = meter.createObservableCounter('roam.store.bytes', {
    unit: 'By',
    description: 'Bytes to and from data stores, per endpoint, store and host.',
  });
  const storeTime = meter.createObservableCounter('roam.store.duration', {
    unit: 's',
    description: 'Time spent in data store operations; divided by accesses, the observed round trip.',
  });
  const calls = meter.createObservableCounter('roam.endpoint.calls', {
    unit: '{call}',
    description: 'Calls from an endpoint to another (the call graph), per caller and callee.',
  });
  const callBytes = meter.createObservableCounter('roam.endpoint.call.bytes', {
    unit: 'By',
    description: 'Request and response bytes of endpoint-to-endpoint calls, per caller and callee.',
  });
  const rtt = meter.createObservableGauge('roam.network.rtt', {
    unit: 'ms',
    description: 'Round trip measured by active probes from this node to a node or a remote store (median).',
  });
  const jitter = meter.createObservableGauge('roam.network.jitter', {
    unit: 'ms',
    description: 'Jitter of the probed round trip (mean difference of successive samples).',
  });
  const hostAttrs = { 'roam.host': node.id, 'roam.tier': node.tier, 'roam.site': node.site };

  meter.addBatchObservableCallback(
    (r) => {
      for (const t of profiler.origins.values()) {
        const a: Attributes = {
          'roam.endpoint': t.endpoint,
          'roam.origin': node.site,
          'roam.legacy': t.legacy,
        };
        r.observe(requests, t.requests, a);
        r.observe(errors, t.errors, a);
        r.observe(requestBytes, t.requestBytes, a);
        r.observe(responseBytes, t.responseBytes, a);
      }
      observeHost(profiler, r, hostAttrs);
      for (const p of profiler.prober?.results() ?? []) {
        const a: Attributes = {
          'roam.site': node.site,
          'roam.peer_kind': p.kind,
          'roam.peer': p.target,
          ...(p.location ? { 'roam.peer_location': p.location } : {}),
        };
        r.observe(rtt, p.rttMs, a);
        r.observe(jitter, p.jitterMs, a);
      }
    },
    [
      requests,
      errors,
      requestBytes,
      responseBytes,
      invocations,
      cpu,
      memory,
      storeAccesses,
      storeBytes,
      storeTime,
      calls,
      callBytes,
      rtt,
      jitter,
    ],
  );

  function observeHost(p: NodeProfiler, r: BatchObservableResult, base: Attributes): void {
    for (const st of p.host?.stats() ?? []) {
      const u = st.usage;
      const a: Attributes = { 'roam.endpoint': st.endpoint, ...base };
      r.observe(invocations, u.invocations, a);
      if (u.cpuSamples > 0) r.observe(cpu, u.cpuMicros / u.cpuSamples / 1000, a);
      if (u.memoryBytes > 0) r.observe(memory, u.memoryBytes, a);
      for (const [store, s] of Object.entries(u.stores)) {
        const sa: Attributes = { ...a, 'roam.store': store };
        r.observe(storeAccesses, s.gets + s.puts + s.deletes + s.lists, sa);
        r.observe(storeBytes, s.bytesSent + s.bytesReceived, sa);
        r.observe(storeTime, s.timeMs / 1000, sa);
      }
      for (const [callee, c] of Object.entries(u.callees)) {
        const ca: Attributes = { ...a, 'roam.callee': callee };
        r.observe(calls, c.calls, ca);
        r.observe(callBytes, c.requestBytes + c.responseBytes, ca);
      }
    }
  }
}

/** The control plane's placement as a gauge: 1 per replica of an endpoint on a host, with the host's tier. */
export function registerPlacementMetrics(
  placements: () => { endpoint: string; host: string; tier: string }[],
  meter: Meter = metrics.getMeter('roam-control-plane'),
): void {
  const replicas = meter.createObservableGauge('roam.placement.replicas', {
    unit: '{replica}',
    description: 'Replicas of an endpoint placed on a host (1 per placement), with the host tier.',
  });
  replicas.addCallback((r) => {
    for (const p of placements()) r.observe(1, { endpoint: p.endpoint, host: p.host, tier: p.tier });
  });
}

/** Counts finished migrations by outcome (done, rolled-back): `roam_migrations_total` in Prometheus. */
export function migrationCounter(
  meter: Meter = metrics.getMeter('roam-control-plane'),
): (endpoint: string, outcome: string) => void {
  const counter = meter.createCounter('roam.migrations', {
    unit: '{migration}',
    description: 'Live migrations finished, by endpoint and outcome (done, rolled-back).',
  });
  return (endpoint, outcome) => counter.add(1, { endpoint, outcome });
}
