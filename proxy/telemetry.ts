// The proxy's telemetry at the source, through @opentelemetry/api only (the SDK is wired by the CLI): a
// server span per request and a client span per attempt, with OpenTelemetry's stable HTTP attribute names
// plus roam.*; and the http.server.request.duration / http.client.request.duration histograms.
import {
  type Attributes,
  type Context,
  context,
  type Histogram,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { toRoamError } from '../core/errors.ts';
import type { Layer } from './dispatch.ts';

const tracer = trace.getTracer('roam-proxy');

// Buckets in seconds, from the HTTP semantic conventions' advice.
const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

// The metrics API hands out no-op instruments until a provider is registered, and the CLI registers it after
// this module loads: so the instruments are made on first use, when requests flow.
let instruments: { server: Histogram; client: Histogram } | undefined;

function histograms(): { server: Histogram; client: Histogram } {
  if (instruments) return instruments;
  const meter = metrics.getMeter('roam-proxy');
  instruments = {
    server: meter.createHistogram('http.server.request.duration', {
      unit: 's',
      description: 'Duration of HTTP server requests, per endpoint for routed requests.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    client: meter.createHistogram('http.client.request.duration', {
      unit: 's',
      description: 'Duration of each attempt to reach an endpoint target or the upstream.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
  };
  return instruments;
}

export function recordServerDuration(seconds: number, attributes: Attributes): void {
  histograms().server.record(seconds, attributes);
}

const getter = {
  keys: (carrier: Record<string, unknown>) => Object.keys(carrier),
  get: (carrier: Record<string, unknown>, key: string) => {
    const v = carrier[key];
    return typeof v === 'string' || Array.isArray(v) ? (v as string | string[]) : undefined;
  },
};

/** Starts the server span of an inbound request, child of the caller's traceparent if it sent one. */
export function startServerSpan(
  name: string,
  headers: Record<string, unknown>,
  attributes: Attributes,
): { span: Span; ctx: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers, getter);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

export function endSpan(span: Span, status: number, err?: unknown): void {
  span.setAttribute('http.response.status_code', status);
  if (err !== undefined || status >= 500) {
    const e = err === undefined ? undefined : toRoamError(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: e?.message ?? `status ${status}` });
    if (e) span.setAttribute('error.type', e.code);
  }
  span.end();
}

/** The traceparent to send for `ctx`, or the incoming one when tracing is off (so the trace still flows). */
export function traceparentFor(ctx: Context, incoming: string | undefined): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent ?? incoming;
}

/** Per-attempt client span and duration, just above the transport; sets the attempt's traceparent. */
export function telemetryLayer(routeVersion: () => number): Layer {
  return (next) => async (call) => {
    const target = call.target!;
    const parent = call.context ?? context.active();
    const attributes: Attributes = {
      'http.request.method': call.req.method,
      'roam.endpoint': call.endpoint.name,
      'roam.target': target.key,
      'roam.tier':
        target.spec.kind === 'host'
          ? (target.spec.tier ?? 'remote')
          : target.spec.kind === 'local'
            ? 'in-process'
            : 'upstream',
      'roam.route_version': routeVersion(),
    };
    if (call.attempt > 0) attributes['http.request.resend_count'] = call.attempt;
    const span = tracer.startSpan(
      `${call.req.method} ${call.endpoint.name}`,
      { kind: SpanKind.CLIENT, attributes },
      parent,
    );
    const incoming = call.traceparent;
    call.traceparent = traceparentFor(trace.setSpan(parent, span), incoming);
    const start = performance.now();
    try {
      const res = await next(call);
      endSpan(span, res.status);
      histograms().client.record((performance.now() - start) / 1000, {
        ...attributes,
        'http.response.status_code': res.status,
      });
      return res;
    } catch (err) {
      const e = toRoamError(err);
      endSpan(span, e.status, e);
      histograms().client.record((performance.now() - start) / 1000, { ...attributes, 'error.type': e.code });
      throw err;
    } finally {
      call.traceparent = incoming;
    }
  };
}

/**
 * What the proxy tells a profiler about each request its clients sent (profiler/recorder.ts implements it):
 * routed endpoint requests, and legacy traffic passed through to the service. Absent when profiling is off.
 */
export interface RequestRecorder {
  endpointRequest(
    endpoint: string,
    legacy: boolean,
    status: number,
    ms: number,
    requestBytes: number,
    responseBytes: number,
  ): void;
  passthroughRequest(
    url: string,
    status: number,
    ms: number,
    requestBytes: number,
    responseBytes: number,
  ): void;
}
