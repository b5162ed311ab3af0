// `roam host` as users run it: a real process on loopback, driven over its HTTP API.
import { request as httpRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointModule, fixtureModule } from '../../test/support/modules.ts';
import { type RoamProcess, startHost, startRoam, stopAll } from '../../test/support/processes.ts';
import { digestOf } from '../module-store.ts';
import { rawRequest } from './raw-http.ts';

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

/** Polls until `check` holds (the test's timeout bounds the wait). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

async function endpointStats(name: string) {
  const stats = (await call('GET', '/stats')).json();
  return stats.endpoints.find((e: { endpoint: string }) => e.endpoint === name);
}

/** Sends the head of a POST declaring a body of `length` bytes (and the `extra` header line), not the body. */
function declaring(path: string, length: number, extra?: string) {
  const head = `POST ${path} HTTP/1.1\r\nhost: h\r\ncontent-length: ${length}\r\n`;
  return rawRequest(host.url, `${head}${extra ? `${extra}\r\n` : ''}\r\n`);
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

  it('refuses names outside the name rule with 400 quoting them, and keeps serving', async () => {
    for (const [segment, quoted] of [
      ['%E2%82%AC', '"€"'],
      ['a%0Ab', '"a\\nb"'],
      ['%ZZ', '"%ZZ"'],
    ] as const) {
      const res = await call('GET', `/invoke/${segment}/x`);
      expect(res.status, segment).toBe(400);
      expect(res.json().message).toContain(quoted);
      expect(res.headers['x-roam-endpoint']).toBeUndefined();
    }
    expect((await call('PUT', '/endpoints/%E2%82%AC', '{}')).status).toBe(400);
    expect((await call('DELETE', '/endpoints/a%0Ab')).status).toBe(400);
    expect((await call('GET', '/stores/%E2%82%AC/keys')).status).toBe(400);
    // On one kept-alive connection: a refused name, then a normal call.
    const conn = await rawRequest(
      host.url,
      'GET /invoke/%E2%82%AC/x HTTP/1.1\r\nhost: h\r\n\r\nGET /invoke/hello/hello?name=Grace HTTP/1.1\r\nhost: h\r\n\r\n',
    );
    const text = await conn.waitFor(/Grace/);
    conn.socket.destroy();
    expect(text).toMatch(/^HTTP\/1.1 400 /);
    expect(text).not.toMatch(/connection: close/i);
    expect(text).toMatch(/}HTTP\/1.1 200 OK\r\n/);
  });

  it('refuses activation limits outside their ranges with 400 naming the field, value and range', async () => {
    const { digest } = (await call('POST', '/modules', endpointModule('hello'))).json();
    for (const [spec, message] of [
      [{ limits: { timeoutMs: 'abc' } }, 'limits.timeoutMs must be an integer from 1 to 300000, got "abc"'],
      [
        { limits: { timeoutMs: 1e10 } },
        'limits.timeoutMs must be an integer from 1 to 300000, got 10000000000',
      ],
      [
        { limits: { maxRequestBytes: 0 } },
        'limits.maxRequestBytes must be an integer from 1 to 67108864, got 0',
      ],
      [
        { limits: { memoryPages: 70000 } },
        'limits.memoryPages must be an integer from 1 to 65536, got 70000',
      ],
      [{ limits: { bogus: 1 } }, 'limits field "bogus" is not one of memoryPages, timeoutMs'],
      [{ warm: 100 }, 'warm must be an integer from 1 to 16, got 100'],
      [{ warm: '2' }, 'warm must be an integer from 1 to 16, got "2"'],
      [{ replicas: 2 }, 'activation field "replicas" is not one of digest, exec, limits, warm'],
    ] as const) {
      const res = await call('PUT', '/endpoints/limited', JSON.stringify({ digest, ...spec }));
      expect(res.status, message).toBe(400);
      expect(res.json()).toMatchObject({
        error: 'ROAM_ERR_INVALID_ARGUMENT',
        message: expect.stringContaining(message),
      });
    }
    expect((await call('DELETE', '/endpoints/hello?timeoutMs=soon')).json().message).toContain(
      'timeoutMs must be an integer from 0 to 300000, got "soon"',
    );
    expect((await call('GET', '/invoke/limited/')).status).toBe(404);
    expect((await call('GET', '/invoke/hello/hello?name=still')).status).toBe(200);
  });

  it('refuses an /invoke before reading its body: unknown endpoint, or a body over its limit', async () => {
    await deploy('small', fixtureModule('echo'), { limits: { maxRequestBytes: 1024 } });
    // Bodies declared and never sent: only an answer given without reading them can arrive.
    const notFound = await (await declaring('/invoke/nothing-here/x', 10_000_000)).closed;
    expect(notFound).toMatch(/^HTTP\/1.1 404 /);
    expect(notFound).toMatch(/\r\nconnection: close\r\n/i);
    expect(notFound).toContain('ROAM_ERR_ENDPOINT_NOT_ACTIVE');
    const tooLarge = await (await declaring('/invoke/small/', 5000)).closed;
    expect(tooLarge).toMatch(/^HTTP\/1.1 413 /);
    expect(tooLarge).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('answers expect: 100-continue with the refusal at once, or with 100 Continue', async () => {
    const notFound = await (await declaring('/invoke/nothing-here/x', 100, 'expect: 100-continue')).closed;
    expect(notFound).toMatch(/^HTTP\/1.1 404 /);
    const tooLarge = await (await declaring('/invoke/small/', 5000, 'expect: 100-continue')).closed;
    expect(tooLarge).toMatch(/^HTTP\/1.1 413 /);
    const accepted = await declaring('/invoke/small/', 5, 'expect: 100-continue');
    await accepted.waitFor(/^HTTP\/1.1 100 Continue\r\n\r\n/);
    accepted.socket.write('hello');
    const text = await accepted.waitFor(/\r\n\r\nhello$/);
    accepted.socket.destroy();
    expect(text).toMatch(/\r\n\r\nHTTP\/1.1 200 OK\r\n/);
  });

  it('refuses a module that speaks another ABI version at upload, and does not keep it', async () => {
    const badabi = fixtureModule('badabi');
    const res = await call('POST', '/modules', badabi);
    expect(res.status).toBe(422);
    expect(res.json()).toMatchObject({
      error: 'ROAM_ERR_MODULE_UNSUPPORTED',
      message: expect.stringContaining('ABI version 2'),
    });
    expect((await call('HEAD', `/modules/${digestOf(badabi)}`)).status).toBe(404);
  });

  it('interrupts an endpoint stuck in a loop when its client goes away, long before its deadline', async () => {
    await deploy('spin', fixtureModule('loop'), { limits: { timeoutMs: 60_000 } });
    const client = new AbortController();
    const pending = httpRequest(`${host.url}/invoke/spin/`, { signal: client.signal }).catch((err) => err);
    await until(async () => (await endpointStats('spin')).inFlight === 1);
    client.abort();
    expect(await pending).toMatchObject({ name: 'AbortError' });
    await until(async () => (await endpointStats('spin')).usage.cancelled === 1);
    expect(await endpointStats('spin')).toMatchObject({
      inFlight: 0,
      usage: { invocations: 1, cancelled: 1, errors: 0, timeouts: 0, traps: 0 },
    });
    expect((await call('GET', '/invoke/hello/hello?name=after')).status).toBe(200);
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
