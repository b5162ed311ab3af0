// The proxy's admin listener and its graceful shutdown: SIGTERM stops accepting, lets in-flight requests
// finish (telling HTTP/1 clients to close), then exits 0.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyService } from '../../examples/legacy-service/server.ts';
import { removeTempFiles, startRoam, stopAll, tempJson } from '../../test/support/processes.ts';

const legacy = createLegacyService();
let upstream = '';

beforeAll(async () => {
  legacy.listen(0, '127.0.0.1');
  await once(legacy, 'listening');
  upstream = `http://127.0.0.1:${(legacy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stopAll();
  removeTempFiles();
  legacy.close();
  legacy.closeAllConnections();
});

function adminUrl(stdoutLine: { admin?: string }) {
  return `http://${stdoutLine.admin}`;
}

describe('proxy admin', () => {
  it('serves health, readiness, the route table in force and stats', async () => {
    const routes = tempJson('routes.json', {
      version: 3,
      routes: [{ match: 'GET /legacy/hello', endpoint: 'hello-legacy' }],
      endpoints: { 'hello-legacy': { targets: [{ kind: 'upstream', weight: 1 }] } },
    });
    const proxy = await startRoam([
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--upstream',
      upstream,
      '--routes',
      routes,
    ]);
    const admin = adminUrl(proxy.info as { admin?: string });
    expect((await request(`${admin}/healthz`)).statusCode).toBe(200);
    const ready = await request(`${admin}/readyz`);
    expect(await ready.body.json()).toEqual({ status: 'ready', routeVersion: 3 });
    const config = (await (await request(`${admin}/config`)).body.json()) as { version: number };
    expect(config.version).toBe(3);

    // The route sends the request to the endpoint's upstream target; a non-routed path passes through.
    const routed = await request(`${proxy.url}/legacy/hello`);
    expect(await routed.body.text()).toContain('hello from the legacy service');
    await (await request(`${proxy.url}/legacy/status?code=204`)).body.dump();
    const stats = (await (await request(`${admin}/stats`)).body.json()) as {
      endpoints: Record<string, { requests: number }>;
      passthrough: { requests: number };
      targets: Record<string, { requests: number }>;
    };
    expect(stats.endpoints['hello-legacy']!.requests).toBe(1);
    expect(stats.targets.upstream!.requests).toBe(1);
    expect(stats.passthrough.requests).toBe(1);
    const metrics = await (await request(`${admin}/metrics`)).body.text();
    expect(metrics).toMatch(/http_server_request_duration_count\{[^}]*roam_endpoint="hello-legacy"[^}]*\} 1/);
    expect(metrics).toMatch(/http_client_request_duration_count\{[^}]*roam_target="upstream"/);
    expect((await request(`${admin}/nope`)).statusCode).toBe(404);
    await proxy.stop();
  });

  it('refuses a bad route file at start with the reason', async () => {
    const routes = join(tmpdir(), `roam-bad-routes-${process.pid}.json`);
    writeFileSync(
      routes,
      JSON.stringify({ routes: [{ match: 'GET /x', endpoint: 'missing' }], endpoints: {} }),
    );
    await expect(startRoam(['proxy', '--listen', '127.0.0.1:0', '--routes', routes])).rejects.toThrow(
      /names endpoint "missing"/,
    );
  });
});

describe('graceful shutdown', () => {
  it('sends HTTP/2 clients GOAWAY and still finishes their stream in flight', async () => {
    const proxy = await startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', upstream]);
    const session = http2.connect(proxy.url);
    const goaway = once(session, 'goaway');
    const stream = session.request({ ':path': '/legacy/slow?ms=600', ':method': 'GET' });
    let body = '';
    stream.on('data', (d) => {
      body += d;
    });
    // The request is at the upstream (which answers after 600 ms) when the proxy is told to stop.
    await new Promise((r) => setTimeout(r, 150));
    const exited = proxy.stop('SIGTERM');
    await goaway;
    await once(stream, 'end');
    expect(body).toBe('slow\n');
    session.close();
    expect(await exited).toBe(0);
  });

  it('finishes in-flight requests after SIGTERM, then exits 0', async () => {
    const proxy = await startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', upstream]);
    const inFlight = request(`${proxy.url}/legacy/slow?ms=600`);
    await new Promise((r) => setTimeout(r, 150));
    const exited = proxy.stop('SIGTERM');
    const res = await inFlight;
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    expect(await res.body.text()).toBe('slow\n');
    expect(await exited).toBe(0);
    await expect(request(`${proxy.url}/legacy/hello`)).rejects.toThrow();
  });
});
