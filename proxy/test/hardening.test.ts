// Nothing a client sends takes the sidecar down or starves other clients: resets before the first byte, names
// outside the rule on the reserved paths, absolute-form targets, duplicate Host, Expect: 100-continue, refused
// upgrades, HTTP/2 prefaces that go nowhere, and many slow clients at once. A real `roam proxy` process, so a
// crash shows as a dead process; every case ends by checking the proxy still serves.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type RoamProcess,
  removeTempFiles,
  startRoam,
  stopAll,
  tempJson,
} from '../../test/support/processes.ts';
import { SidecarProxy } from '../index.ts';

/** The service behind the proxy: counts what reaches it and behaves per path. */
const seen: string[] = [];
const held: ServerResponse[] = [];
/** Large answers whose client went away before they were finished. */
let bigAbandoned = 0;
const upstream: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
  seen.push(`${req.method} ${req.url}`);
  const path = req.url ?? '/';
  if (path === '/slow-body') {
    // Never reads to the end: the client sends its body slowly (or never).
    req.resume();
    held.push(res);
    return;
  }
  if (path.startsWith('/big')) {
    res.once('close', () => {
      if (!res.writableFinished) bigAbandoned++;
    });
    const chunk = Buffer.alloc(64 * 1024, 120);
    let left = Number(new URL(path, 'http://x').searchParams.get('mb') ?? 8) * 1024 * 1024;
    const pump = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  const hash = createHash('sha256');
  let size = 0;
  req.on('data', (d: Buffer) => {
    hash.update(d);
    size += d.length;
  });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        path,
        size,
        sha256: hash.digest('hex'),
        host: req.headers.host,
        xff: req.headers['x-forwarded-for'],
        expect: req.headers.expect ?? null,
      }),
    );
  });
});
upstream.on('upgrade', (_req, socket) => {
  const body = 'websockets are not served here';
  socket.end(
    `HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\nx-why: policy\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
  );
});

let proxy: RoamProcess;
let port = 0;

beforeAll(async () => {
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const routes = tempJson('routes.json', {
    version: 1,
    routes: [{ match: 'GET /hello', endpoint: 'hello' }],
    endpoints: {
      hello: {
        module: fileURLToPath(new URL('../../build/endpoints/hello.wasm', import.meta.url)),
        targets: [{ kind: 'local', weight: 1 }],
      },
    },
  });
  proxy = await startRoam([
    'proxy',
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    upstreamUrl,
    '--routes',
    routes,
    '--profiling',
    'off',
    '--headers-timeout-ms',
    '1000',
  ]);
  port = Number(proxy.address.split(':')[1]);
});
afterAll(async () => {
  for (const res of held) res.destroy();
  await stopAll();
  upstream.closeAllConnections();
  upstream.close();
  removeTempFiles();
});

/** Sends raw bytes and returns everything the proxy answers until it closes the connection (or 5 s pass). */
async function raw(bytes: string | Buffer, wait = 5000): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  let out = '';
  socket.on('data', (d) => {
    out += d;
  });
  socket.on('error', () => {});
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, wait))]);
  socket.destroy();
  return out;
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

/** The proxy is still up and still routes and passes through. */
async function stillServes(): Promise<void> {
  expect(proxy.child.exitCode, proxy.stderr()).toBeNull();
  const hello = await request(`${proxy.url}/hello?name=ada`);
  expect(hello.statusCode).toBe(200);
  expect(await hello.body.json()).toMatchObject({ message: 'Hello, ada!' });
  const plain = await request(`${proxy.url}/plain`);
  expect(plain.statusCode).toBe(200);
  await plain.body.dump();
}

describe('the sidecar cannot be knocked over', () => {
  it('survives connections reset before their first byte', async () => {
    for (let i = 0; i < 20; i++) {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.resetAndDestroy();
      await once(socket, 'close');
    }
    // Let the proxy see the resets before asking it anything.
    await new Promise((r) => setTimeout(r, 100));
    await stillServes();
  });

  it('answers 400 to endpoint names outside the rule on the reserved paths, echoing nothing into headers', async () => {
    for (const path of [
      '/.roam/call/%E2%82%AC',
      '/.roam/call/a%0Ab',
      '/.roam/call/%ZZ',
      '/.roam/invoke/%E2%82%AC/x',
      '/.roam/invoke/a%0D%0Ax-evil:%201/x',
      `/.roam/call/${'a'.repeat(200)}`,
    ]) {
      const res = await request(`${proxy.url}${path}`);
      const body = (await res.body.json()) as { error: string; message: string };
      expect(res.statusCode, path).toBe(400);
      expect(body.message).toMatch(/endpoint name/);
      expect(res.headers['x-roam-endpoint']).toBeUndefined();
    }
    await stillServes();
  });

  it('routes an absolute-form request by its path, with its authority as Host', async () => {
    const routed = await raw(
      'GET http://other.example/hello?name=abs HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(statusOf(routed)).toBe(200);
    expect(routed).toContain('Hello, abs!');
    seen.length = 0;
    const passed = await raw(
      'GET http://other.example:8080/p?q=1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
    );
    expect(statusOf(passed)).toBe(200);
    expect(seen).toEqual(['GET /p?q=1']);
    expect(passed).toContain('"host":"other.example:8080"');
    const bad = await raw('GET http://bad host/p HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(statusOf(bad)).toBe(400);
  });

  it('answers 400 with a reason to two Host headers, OPTIONS *, and CONNECT', async () => {
    const requests = [
      'GET /plain HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\nconnection: close\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
      'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n',
      'GET /plain HTTP/1.1\r\nconnection: close\r\n\r\n',
    ];
    seen.length = 0;
    for (const r of requests) {
      const out = await raw(r);
      expect(statusOf(out), r).toBe(400);
      expect(out).toContain('ROAM_ERR_BAD_REQUEST');
    }
    expect(seen).toEqual([]);
    await stillServes();
  });

  it('answers 505 to a request line that claims HTTP/2.0 and 400 to one with no version', async () => {
    seen.length = 0;
    const h2line = await raw('GET /plain HTTP/2.0\r\nhost: x\r\n\r\n');
    expect(statusOf(h2line)).toBe(505);
    expect(h2line).toContain('ROAM_ERR_HTTP_VERSION');
    expect(statusOf(await raw('GET /plain\r\n\r\n'))).toBe(400);
    expect(seen).toEqual([]);
  });

  it('checks Host even where an absolute target replaces it, and keeps an empty query', async () => {
    seen.length = 0;
    expect(statusOf(await raw('GET http://x/p HTTP/1.1\r\nhost: u@x\r\nconnection: close\r\n\r\n'))).toBe(
      400,
    );
    expect(seen).toEqual([]);
    const kept = await raw('GET http://x:1/p? HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(statusOf(kept)).toBe(200);
    expect(seen).toEqual(['GET /p?']);
  });

  it('speaks HTTP/2 to a preface that arrives a byte at a time', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => {});
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    for (const byte of preface) {
      socket.write(Buffer.of(byte));
      await new Promise((r) => setTimeout(r, 2));
    }
    const [first] = (await once(socket, 'data')) as [Buffer];
    // A server's first HTTP/2 frame is SETTINGS (type 4) on stream 0.
    expect(first[3]).toBe(4);
    socket.destroy();
  });

  it('passes an upload with Expect: 100-continue on whole, after telling the client to continue', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 7);
    for (let i = 0; i < 6; i++) {
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        `PUT /upload HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`,
      );
      const [first] = (await once(socket, 'data')) as [Buffer];
      expect(first.toString()).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
      socket.write(body);
      let out = '';
      socket.on('data', (d) => {
        out += d;
      });
      await once(socket, 'close');
      expect(statusOf(out)).toBe(200);
      const echoed = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
      expect(echoed).toMatchObject({
        size: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        expect: null,
      });
    }
  });

  it('appends the client address to X-Forwarded-For over HTTP/2 as over HTTP/1.1', async () => {
    const session = http2.connect(proxy.url);
    const stream = session.request({ ':path': '/xff', ':method': 'GET', 'x-forwarded-for': '10.1.2.3' });
    let text = '';
    stream.on('data', (d) => {
      text += d;
    });
    await once(stream, 'end');
    session.close();
    expect(JSON.parse(text)).toMatchObject({ xff: '10.1.2.3, 127.0.0.1' });
    const h1 = await request(`${proxy.url}/xff`, { headers: { 'x-forwarded-for': '10.1.2.3' } });
    expect(await h1.body.json()).toMatchObject({ xff: '10.1.2.3, 127.0.0.1' });
  });

  it('relays a refused upgrade as the upstream answered it', async () => {
    const out = await raw(
      'GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n' +
        'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(statusOf(out)).toBe(403);
    expect(out).toMatch(/x-why: policy/i);
    expect(out.endsWith('websockets are not served here')).toBe(true);
  });

  it('closes a connection that sends only the HTTP/2 preface', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.on('error', () => {});
    socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    // Read what the proxy sends (its SETTINGS), so its close is seen.
    socket.resume();
    // The proxy's header timeout is 1 s in this file; the test's own timeout bounds the wait.
    await once(socket, 'close');
    await stillServes();
  });

  it('keeps passthrough going while 130 clients upload slowly and 130 never read a large answer', async () => {
    const slow: net.Socket[] = [];
    for (let i = 0; i < 130; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('POST /slow-body HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\nx');
      slow.push(socket);
    }
    for (let i = 0; i < 130; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('GET /big HTTP/1.1\r\nhost: x\r\n\r\n');
      // Read nothing: the answer backs up into the proxy and the upstream connection behind it.
      socket.pause();
      slow.push(socket);
    }
    await new Promise((r) => setTimeout(r, 500));
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await request(`${proxy.url}/after-${i}`);
        await res.body.dump();
        return res.statusCode;
      }),
    );
    expect(answers).toEqual(Array(20).fill(200));
    for (const s of slow) s.destroy();
    await stillServes();
  });

  it('keeps passthrough going while one HTTP/2 connection holds 130 unfinished streams', async () => {
    const session = http2.connect(proxy.url);
    session.on('error', () => {});
    const streams = Array.from({ length: 130 }, () => {
      const s = session.request({ ':path': '/slow-body', ':method': 'POST' });
      s.on('error', () => {});
      s.write('x');
      return s;
    });
    await new Promise((r) => setTimeout(r, 500));
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const res = await request(`${proxy.url}/h2-after-${i}`);
        await res.body.dump();
        return res.statusCode;
      }),
    );
    expect(answers).toEqual(Array(20).fill(200));
    for (const s of streams) s.close();
    session.destroy();
    await stillServes();
  });
});

describe('limits on what one client holds', () => {
  let small: SidecarProxy;
  let smallUrl = '';
  beforeAll(async () => {
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    small = new SidecarProxy({
      id: 'small',
      upstream: upstreamUrl,
      limits: { maxUpstreamPerClient: 3, idleTimeoutMs: 500 },
    });
    smallUrl = `http://127.0.0.1:${(await small.listen(0, '127.0.0.1')).port}`;
  });
  afterAll(async () => {
    await small.drain(100);
  });

  it('answers 503 at once to a client past its share of the upstream, and serves it again once it has room', async () => {
    const port = Number(new URL(smallUrl).port);
    const slow = Array.from({ length: 3 }, () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('POST /slow-body HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nx');
      return socket;
    });
    while (held.length < 3) await new Promise((r) => setTimeout(r, 10));
    const refused = await request(`${smallUrl}/one-more`);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['x-roam-error']).toBe('ROAM_ERR_OVERLOADED');
    expect(((await refused.body.json()) as { message: string }).message).toMatch(/limit per client/);
    for (const s of slow) s.destroy();
    for (const res of held.splice(0)) res.destroy();
    // Each slow request gives its share back when its client goes.
    let status = 0;
    while (status !== 200) {
      const res = await request(`${smallUrl}/again`);
      status = res.statusCode;
      await res.body.dump();
    }
  });

  it('cuts a request that moves no byte for the idle timeout, freeing its upstream connection', async () => {
    const socket = net.connect(Number(new URL(smallUrl).port), '127.0.0.1');
    socket.on('error', () => {});
    // Larger than every buffer between the upstream and this client, so the upstream cannot finish it.
    socket.write('GET /big?mb=512 HTTP/1.1\r\nhost: x\r\n\r\n');
    const before = bigAbandoned;
    // Never read: the answer backs up until the proxy gives up on this client and on the upstream's answer.
    socket.pause();
    while (bigAbandoned === before) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    const res = await request(`${smallUrl}/after-idle`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  });

  it('sheds new requests with 503 near the memory cap, and serves again once the heap is back under it', async () => {
    const heap = { used: 10, limit: 100 };
    const capped = new SidecarProxy({
      id: 'capped',
      upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      heapUse: () => heap,
    });
    const url = `http://127.0.0.1:${(await capped.listen(0, '127.0.0.1')).port}`;
    try {
      heap.used = 95;
      capped.memory.sample();
      const refused = await request(`${url}/while-full`);
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['x-roam-error']).toBe('ROAM_ERR_OVERLOADED');
      expect(((await refused.body.json()) as { message: string }).message).toMatch(/memory cap/);
      // Under the shedding mark but above the resume mark: still shedding (no flapping).
      heap.used = 85;
      capped.memory.sample();
      const still = await request(`${url}/still-full`);
      expect(still.statusCode).toBe(503);
      await still.body.dump();
      heap.used = 50;
      capped.memory.sample();
      const served = await request(`${url}/after`);
      expect(served.statusCode).toBe(200);
      await served.body.dump();
      expect(capped.memory.shed).toBe(2);
    } finally {
      await capped.drain(100);
    }
  });
});
