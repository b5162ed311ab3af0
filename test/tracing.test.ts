// Traces leave through OpenTelemetry's OTLP/HTTP exporter and arrive at a real OTLP/HTTP listener with the
// parent-child chain intact: client -> proxy -> Wasm endpoint (checkout) -> the endpoints it calls.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoamProcess, removeTempFiles, startRoam, stopAll, tempJson } from './support/processes.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

const spans: OtlpSpan[] = [];
const collector = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => {
    body += d;
  });
  req.on('end', () => {
    const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
    for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});

let proxy: RoamProcess;
const root = new URL('..', import.meta.url).pathname;

beforeAll(async () => {
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const local = (name: string) => ({
    module: `${root}build/endpoints/${name}.wasm`,
    targets: [{ kind: 'local', weight: 1 }],
  });
  const routes = tempJson('routes.json', {
    version: 1,
    routes: [
      { match: '* /cart/*', endpoint: 'cart' },
      { match: 'POST /checkout/{user}', endpoint: 'checkout' },
    ],
    endpoints: { cart: local('cart'), pricing: local('pricing'), checkout: local('checkout') },
  });
  proxy = await startRoam(
    [
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--routes',
      routes,
      '--store',
      'carts=memory',
      '--store',
      'catalog=memory',
      '--store',
      'orders=memory',
    ],
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
  );
});
afterAll(async () => {
  await stopAll();
  collector.close();
  removeTempFiles();
});

function attr(span: OtlpSpan, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : Object.values(v)[0];
}

describe('tracing', () => {
  it('links client -> proxy -> checkout -> cart and pricing in one trace', async () => {
    await (
      await request(`${proxy.url}/cart/ada/items`, { method: 'POST', body: 'sku=book&qty=1' })
    ).body.dump();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const res = await request(`${proxy.url}/checkout/ada`, {
      method: 'POST',
      headers: { traceparent: `00-${traceId}-${clientSpan}-01` },
    });
    expect(res.statusCode).toBe(201);
    await res.body.dump();

    let trace: OtlpSpan[] = [];
    for (let i = 0; i < 100 && trace.filter((s) => s.name.startsWith('invoke ')).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      trace = spans.filter((s) => s.traceId === traceId);
    }
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const parentOf = (s: OtlpSpan) => (s.parentSpanId ? byId.get(s.parentSpanId) : undefined);

    const server = trace.find((s) => s.kind === 2 && attr(s, 'roam.endpoint') === 'checkout')!;
    expect(server, 'proxy server span').toBeDefined();
    expect(server.parentSpanId).toBe(clientSpan);
    expect(attr(server, 'http.request.method')).toBe('POST');
    // OpenTelemetry's http.route is the path template; the method is http.request.method (issue 18, point 5).
    expect(attr(server, 'http.route')).toBe('/checkout/{user}');
    expect(server.name).toBe('POST /checkout/{user}');
    expect(attr(server, 'http.response.status_code')).toBe(201);

    const invokeCheckout = trace.find((s) => s.name === 'invoke checkout')!;
    const attempt = parentOf(invokeCheckout)!;
    expect(attempt.kind).toBe(3); // CLIENT
    expect(attr(attempt, 'roam.target')).toBe('local');
    expect(attr(attempt, 'roam.tier')).toBe('in-process');
    expect(attr(attempt, 'roam.route_version')).toBe(1);
    expect(parentOf(attempt)).toBe(server);

    for (const callee of ['cart', 'pricing']) {
      const invoke = trace.find((s) => s.name === `invoke ${callee}`)!;
      expect(invoke, `invoke ${callee}`).toBeDefined();
      const call = parentOf(invoke)!;
      expect(attr(call, 'roam.endpoint')).toBe(callee);
      expect(parentOf(call)).toBe(invokeCheckout);
    }
  });
});
