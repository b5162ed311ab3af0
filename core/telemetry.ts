// OpenTelemetry wiring, done once at process start by the CLI (business code only uses @opentelemetry/api).
// Metrics always flow to a Prometheus reader served on the admin /metrics route. Traces are exported over
// OTLP/HTTP only when the standard OTEL_* variables name an endpoint; otherwise no tracer provider is
// registered and the API's spans are no-ops, which costs next to nothing on the request path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';

export interface Telemetry {
  /** Serves the Prometheus text exposition of every metric. */
  metricsHandler(req: IncomingMessage, res: ServerResponse): void;
  tracing: boolean;
  shutdown(): Promise<void>;
}

function tracesConfigured(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Metrics also go out over OTLP/HTTP when an endpoint is named (every OTEL_METRIC_EXPORT_INTERVAL, 60 s). */
function otlpMetricsConfigured(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_METRICS_EXPORTER === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT);
}

export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): Telemetry {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const tracing = tracesConfigured(env);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? serviceName,
    metricReaders: otlpMetricsConfigured(env)
      ? [
          prometheus,
          new PeriodicExportingMetricReader({
            exporter: new OTLPMetricExporter(),
            exportIntervalMillis: Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 60_000,
          }),
        ]
      : [prometheus],
    instrumentations: [],
    // NodeSDK builds exporters from OTEL_* itself when none is given; without an endpoint that would be a
    // default localhost exporter, so tracing is switched off explicitly instead.
    ...(tracing ? { traceExporter: new OTLPTraceExporter() } : { spanProcessors: [] }),
  });
  sdk.start();
  return {
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    tracing,
    shutdown: () => sdk.shutdown(),
  };
}
