// `roam host` as users run it: a real process on loopback, driven over its HTTP API.
import { request as httpRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointModule, fixtureModule } from '../../test/support/modules.ts';
import { type RoamProcess, startHost, startRoam, stopAll } from '../../test/support/processes.ts';

const TOKEN = 'test-token';
let host: RoamProcess;

async function call(method: string, path: string, body?: Uint8Array | string, auth = true) {
  const res = await httpRequest(`${host.url}${path}`, {
    method: method as 'GET',
    body,
    headers: auth ? { authorization: `Bearer ${TOKEN}` } : {},
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return {
    status: res.statusCode,
    headers: res.headers,
    text: bytes.toString(),
    json: () => JSON.parse(bytes.toString()),
  };
}

async function deploy(name: string, bytes: Uint8Array, extra: Record<string, unknown> = {}) {
  const up = await call('POST', '/modules', bytes);
  expect(up.status).toBe(201);
  const { digest } = up.json();
  const act = await call('PUT', `/endpoints/${name}`, JSON.stringify({ digest, ...extra }));
  expect(act.status, act.text).toBe(200);
  return digest as string;
}

beforeAll(async () => {
  host = await startRoam(
    ['host', '--tier', 'edge', '--listen', '127.0.0.1:0', '--store', 'carts=memory', '--timeout-ms', '500'],
    { ROAM_TOKEN: TOKEN },
  );
});
afterAll(() => stopAll());

describe('roam host', () => {
  it('reports health without a token', async () => {
    const res = await call('GET', '/healthz', undefined, false);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', tier: 'edge' });
  });

  it('requires the token on admin routes', async () => {
    const res = await call('POST', '/modules', endpointModule('hello'), false);
    expect(res.status).toBe(401);
    expect(res.headers['x-roam-error']).toBe('ROAM_ERR_UNAUTHORIZED');
  });

  it('uploads, activates and invokes an endpoint, then counts it in /stats', async () => {
    const digest = await deploy('hello', endpointModule('hello'));
    const res = await call('GET', '/invoke/hello/hello?name=Ada');
    expect(res.status).toBe(200);
    expect(res.text).toContain('Ada');
    const stats = (await call('GET', '/stats')).json();
    const hello = stats.endpoints.find((e: { endpoint: string }) => e.endpoint === 'hello');
    expect(hello).toMatchObject({ digest, usage: { invocations: 1, errors: 0 } });
    expect(hello.latency.p50).toBeGreaterThan(0);
  });

  it('refuses bad modules and bad activations with the reason, and keeps serving', async () => {
    const notWasm = await call('POST', '/modules', 'not wasm');
    expect(notWasm.status).toBe(422);
    expect(notWasm.json()).toMatchObject({ error: 'ROAM_ERR_MODULE_INVALID' });
    const badImport = await call('POST', '/modules', fixtureModule('badimport'));
    expect(badImport.status).toBe(422);
    expect(badImport.json().message).toContain('roam.open_socket');
    const wrongDigest = await call('PUT', `/modules/sha256:${'0'.repeat(64)}`, endpointModule('hello'));
    expect(wrongDigest.status).toBe(400);
    expect(wrongDigest.json().error).toBe('ROAM_ERR_DIGEST_MISMATCH');
    const notJson = await call('PUT', '/endpoints/x', '{nope');
    expect(notJson.status).toBe(400);
    const unknownDigest = await call(
      'PUT',
      '/endpoints/x',
      JSON.stringify({ digest: `sha256:${'1'.repeat(64)}` }),
    );
    expect(unknownDigest.status).toBe(404);
    const badExec = await call('PUT', '/endpoints/x', JSON.stringify({ digest: 'sha256:x', exec: 'gpu' }));
    expect(badExec.status).toBe(400);
    const missing = await call('GET', '/invoke/nothing-here/x');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-roam-error']).toBe('ROAM_ERR_ENDPOINT_NOT_ACTIVE');
    expect((await call('GET', '/invoke/hello/hello?name=still')).status).toBe(200);
  });

  it('answers a stuck endpoint with 504 and stays healthy', async () => {
    await deploy('loop', fixtureModule('loop'));
    const res = await call('GET', '/invoke/loop/');
    expect(res.status).toBe(504);
    expect(res.headers['x-roam-endpoint']).toBe('loop');
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('serves its stores to other hosts', async () => {
    expect((await call('PUT', '/stores/carts/keys/u1', 'v1')).status).toBe(204);
    expect((await call('GET', '/stores/carts/keys/u1')).text).toBe('v1');
    expect((await call('GET', '/stores/carts/keys?prefix=u')).json()).toEqual({ keys: ['u1'] });
    expect((await call('DELETE', '/stores/carts/keys/u1')).status).toBe(204);
    expect((await call('GET', '/stores/carts/keys/u1')).status).toBe(404);
    expect((await call('GET', '/stores/nope/keys/u1')).status).toBe(404);
  });

  it('finishes in-flight invocations before a deactivation completes', async () => {
    await deploy('slow', fixtureModule('loop'), { limits: { timeoutMs: 300 } });
    const inFlight = call('GET', '/invoke/slow/');
    await new Promise((r) => setTimeout(r, 50));
    const deactivated = await call('DELETE', '/endpoints/slow');
    expect(deactivated.json()).toEqual({ endpoint: 'slow', drained: true });
    // The in-flight invocation ran to its end (its deadline) rather than being cut off by the deactivation.
    expect((await inFlight).status).toBe(504);
    expect((await call('GET', '/invoke/slow/')).status).toBe(404);
  });

  it('exits cleanly on SIGTERM', async () => {
    const other = await startHost('device');
    expect(await other.stop('SIGTERM')).toBe(0);
  });
});
