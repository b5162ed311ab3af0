// OpenTelemetry wiring, done once at process start by the CLI (business code only uses @opentelemetry/api).
// Metrics always flow to a Prometheus reader served on the admin /metrics route. Traces are exported over
// OTLP/HTTP only when the standard OTEL_* variables name an endpoint; otherwise no tracer provider is
// registered and the API's spans are no-ops, which costs next to nothing on the request path. What is not
// configured is not loaded either: the SDK and its OTLP exporters weigh tens of MB in every sidecar.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader } from '@opentelemetry/sdk-metrics';

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

async function otlpMetricReader(env: NodeJS.ProcessEnv): Promise<MetricReader> {
  const [{ OTLPMetricExporter }, { PeriodicExportingMetricReader }] = await Promise.all([
    import('@opentelemetry/exporter-metrics-otlp-http'),
    import('@opentelemetry/sdk-metrics'),
  ]);
  return new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter(),
    exportIntervalMillis: Number(env.OTEL_METRIC_EXPORT_INTERVAL) || 60_000,
  });
}

/** The Node SDK with the OTLP/HTTP trace exporter, loaded only when traces have somewhere to go. */
async function startTracing(serviceName: string): Promise<{ shutdown(): Promise<void> }> {
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  // Metrics are registered below, apart from the SDK, so they do not depend on tracing being on.
  const sdk = new NodeSDK({ serviceName, traceExporter: new OTLPTraceExporter(), instrumentations: [] });
  sdk.start();
  return sdk;
}

export async function startTelemetry(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Telemetry> {
  const name = env.OTEL_SERVICE_NAME ?? serviceName;
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: MetricReader[] = [prometheus];
  if (otlpMetricsConfigured(env)) readers.push(await otlpMetricReader(env));
  const meters = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': name }), readers });
  metrics.setGlobalMeterProvider(meters);
  const tracing = tracesConfigured(env);
  const tracer = tracing ? await startTracing(name) : undefined;
  return {
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    tracing,
    shutdown: async () => {
      await Promise.all([meters.shutdown(), tracer?.shutdown()]);
    },
  };
}
