// The profile as OpenTelemetry metrics, scraped for real: Debian's `prometheus` (started here, on a free
// loopback port with a generated config) scrapes a proxy's admin /metrics, and a per-endpoint series is read
// back through Prometheus' HTTP API. The Grafana dashboard in deploy/grafana/ parses and every query in it
// names a series Roam exports.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOn } from '../../core/http.ts';
import {
  type RoamProcess,
  removeTempFiles,
  startHost,
  startRoam,
  stopAll,
  tempJson,
} from '../../test/support/processes.ts';
import { needs, onPath } from '../../test/support/system.ts';
import { registerPlacementMetrics } from '../index.ts';

const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'roam-prometheus-'));
let proxy: RoamProcess;
let prometheus: ChildProcess;
let prometheusUrl = '';
let promLog = '';

/** Series the control plane exports (its placement gauge, and the migrations counter of the placement loop). */
const CONTROL_PLANE_SERIES = ['roam_migrations_total'];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}\n${promLog.slice(-2000)}`);
}

/** Series names in a Prometheus text exposition: histograms as their _bucket, _count and _sum series. */
function seriesNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    if (type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) names.add(`${name}${s}`);
    else names.add(name!);
  }
  return names;
}

const PROMQL_WORDS = new Set([
  'sum',
  'avg',
  'max',
  'min',
  'count',
  'rate',
  'irate',
  'increase',
  'histogram_quantile',
  'by',
  'without',
  'label_values',
]);

/** The metric names a PromQL expression (or a label_values() query) reads. */
function seriesIn(expr: string): string[] {
  const lv = /^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/.exec(expr);
  if (lv) return [lv[1]!];
  const cleaned = expr
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without)\s*\([^)]*\)/g, ' ');
  return [...cleaned.matchAll(/[a-zA-Z_:][\w:]*/g)].map((m) => m[0]).filter((t) => !PROMQL_WORDS.has(t));
}

const wanted = needs('prometheus', onPath('prometheus'), 'apt-get install prometheus');

beforeAll(async () => {
  if (!wanted) return;
  const storage = await startHost('cluster', ['carts=memory']);
  const module = (name: string) => `${root}build/endpoints/${name}.wasm`;
  const local = (name: string) => ({ module: module(name), targets: [{ kind: 'local', weight: 1 }] });
  proxy = await startRoam([
    'proxy',
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--location',
    'eu',
    '--routes',
    tempJson('routes.json', {
      version: 1,
      routes: [
        { match: 'GET /hello', endpoint: 'hello' },
        { match: '* /cart/*', endpoint: 'cart' },
        { match: 'POST /checkout/{user}', endpoint: 'checkout' },
      ],
      endpoints: {
        hello: local('hello'),
        cart: local('cart'),
        checkout: local('checkout'),
        pricing: local('pricing'),
      },
    }),
    '--store',
    `carts=${storage.url}`,
    '--store',
    'orders=memory',
    '--store',
    'catalog=memory',
    '--report-interval-ms',
    '200',
  ]);
  for (let i = 0; i < 30; i++) await (await request(`${proxy.url}/hello?name=p`)).body.dump();
  await (
    await request(`${proxy.url}/cart/ada/items`, { method: 'POST', body: 'sku=book&qty=1' })
  ).body.dump();
  await (await request(`${proxy.url}/checkout/ada`, { method: 'POST' })).body.dump();

  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      'scrape_configs:',
      '  - job_name: roam-proxy',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ['${proxy.info.admin as string}']`,
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr!.on('data', (d) => {
    promLog += d;
  });
  prometheusUrl = `http://127.0.0.1:${port}`;
  await until('prometheus to be ready', async () => {
    const res = await request(`${prometheusUrl}/-/ready`);
    await res.body.dump();
    return res.statusCode === 200 ? true : undefined;
  });
}, 90_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await stopAll();
  removeTempFiles();
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(wanted)('profile metrics', () => {
  it('are scraped by Prometheus and queryable per endpoint', async () => {
    const query = 'roam_endpoint_requests_total{roam_endpoint="hello"}';
    const result = await until('the hello series in prometheus', async () => {
      const res = await request(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await res.body.json()) as {
        status: string;
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return body.status === 'success' && body.data.result.length > 0 ? body.data.result : undefined;
    });
    expect(result[0]!.metric).toMatchObject({ roam_endpoint: 'hello', roam_origin: 'eu', job: 'roam-proxy' });
    expect(Number(result[0]!.value[1])).toBe(30);
    // The host side of the same proxy: store accesses of cart, per store and host.
    const res = await request(
      `${prometheusUrl}/api/v1/query?query=${encodeURIComponent('roam_store_accesses_total{roam_endpoint="cart"}')}`,
    );
    const stores = (await res.body.json()) as { data: { result: { metric: Record<string, string> }[] } };
    expect(stores.data.result.map((r) => r.metric.roam_store)).toEqual(['carts']);
  });

  it('go out over OTLP/HTTP too when an endpoint is configured', async () => {
    const bodies: Buffer[] = [];
    const sink = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v1/metrics') bodies.push(Buffer.concat(chunks));
        res.end();
      });
    });
    const { port } = await listenOn(sink, 0, '127.0.0.1');
    const otlp = await startRoam(
      [
        'proxy',
        '--listen',
        '127.0.0.1:0',
        '--routes',
        tempJson('otlp-routes.json', {
          version: 1,
          routes: [{ match: 'GET /hello', endpoint: 'hello' }],
          endpoints: {
            hello: { module: `${root}build/endpoints/hello.wasm`, targets: [{ kind: 'local', weight: 1 }] },
          },
        }),
      ],
      { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_METRIC_EXPORT_INTERVAL: '300' },
    );
    await (await request(`${otlp.url}/hello?name=otlp`)).body.dump();
    await until('an OTLP export with the profile series', async () =>
      bodies.some((b) => b.includes('roam.endpoint.requests') && b.includes('hello')) ? true : undefined,
    );
    await otlp.stop();
    sink.close();
  });

  it('back a Grafana dashboard whose every query names an exported series', async () => {
    const dashboard = JSON.parse(readFileSync(`${root}deploy/grafana/roam-profiles.json`, 'utf8'));
    expect(dashboard).toMatchObject({ uid: 'roam-profiles', title: expect.any(String) });
    const exported = seriesNames(
      await (await request(`http://${proxy.info.admin as string}/metrics`)).body.text(),
    );
    // The control plane's placement gauge, from the same function it registers.
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [exporter] });
    registerPlacementMetrics(
      () => [{ endpoint: 'hello', host: 'h1', tier: 'cluster' }],
      provider.getMeter('cp'),
    );
    const { resourceMetrics } = await exporter.collect();
    for (const n of seriesNames(new PrometheusSerializer().serialize(resourceMetrics))) exported.add(n);
    await provider.shutdown();
    for (const n of CONTROL_PLANE_SERIES) exported.add(n);

    const queries: string[] = [];
    for (const panel of dashboard.panels) for (const t of panel.targets ?? []) queries.push(t.expr);
    for (const v of dashboard.templating.list) if (v.type === 'query') queries.push(v.query.query);
    expect(queries.length).toBeGreaterThan(8);
    const missing = queries.flatMap((q) =>
      seriesIn(q)
        .filter((s) => !exported.has(s))
        .map((s) => `${s} in ${q}`),
    );
    expect(missing).toEqual([]);
    // The four views the issue asks for are there.
    const titles = dashboard.panels.map((p: { title: string }) => p.title.toLowerCase()).join('\n');
    for (const what of ['latency by tier', 'placement over time', 'heat map', 'migrations'])
      expect(titles).toContain(what);
  });
});
