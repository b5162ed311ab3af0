// The HTTP/1.1 passthrough fast path end to end: real sockets between a client, the sidecar and services that
// answer in every framing (length, chunked with trailers, until close, none), pipelined and keep-alive
// requests counted one by one, services that close idle connections or break mid-answer, and connections that
// move from the fast path to Node's server when a request needs it.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Client, Pool, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLegacyService } from '../../examples/legacy-service/server.ts';
import { SidecarProxy } from '../proxy.ts';

const servers: (Server | net.Server)[] = [];
const proxies: SidecarProxy[] = [];

async function listen<T extends Server | net.Server>(server: T): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function sidecar(
  upstream: string,
  limits = {},
): Promise<{ proxy: SidecarProxy; url: string; port: number }> {
  const proxy = new SidecarProxy({ id: 'fast', upstream: `http://${upstream}`, limits });
  proxies.push(proxy);
  const { port } = await proxy.listen(0, '127.0.0.1');
  return { proxy, url: `http://127.0.0.1:${port}`, port };
}

/** A service written on raw sockets: `answer` gets each request's head and writes whatever it likes. */
function rawService(answer: (socket: net.Socket, head: string) => void): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        answer(socket, head);
      }
    });
  });
}

/** Sends `bytes` on one connection and reads until `done(text)` says the answers are all in, or it closes. */
async function exchange(
  port: number,
  bytes: string | Buffer,
  done: (text: string) => boolean,
): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  let out = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (d) => {
      out += d.toString('latin1');
      if (done(out)) resolve();
    });
    socket.on('close', () => resolve());
    setTimeout(resolve, 5000);
  });
  socket.destroy();
  return out;
}

const legacy = createLegacyService();
let legacyAddress = '';
beforeAll(async () => {
  legacyAddress = await listen(legacy);
});
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.drain(100)));
});
afterAll(() => {
  legacy.closeAllConnections();
  for (const s of servers) s.close();
});

describe('fast path', () => {
  it('carries 500 keep-alive requests with bodies of many sizes byte for byte, and counts each', async () => {
    const { proxy, url } = await sidecar(legacyAddress);
    const client = new Pool(url, { connections: 4 });
    try {
      const sizes = [0, 1, 13, 1024, 16_383, 16_384, 16_385, 65_536, 200_000, 1_048_576];
      let sent = 0;
      await Promise.all(
        Array.from({ length: 500 }, async (_, i) => {
          const body = randomBytes(sizes[i % sizes.length]!);
          sent++;
          const res = await client.request({ method: 'POST', path: '/legacy/echo', body });
          const back = Buffer.from(await res.body.arrayBuffer());
          expect(res.statusCode).toBe(200);
          expect(back.length).toBe(body.length);
          expect(createHash('sha256').update(back).digest('hex')).toBe(
            createHash('sha256').update(body).digest('hex'),
          );
          expect(res.trailers['x-body-length']).toBe(String(body.length));
        }),
      );
      expect(proxy.passthroughStats.requests).toBe(sent);
      expect(proxy.passthroughStats.errors).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('answers 200 pipelined requests on one connection in order', async () => {
    const { port } = await sidecar(legacyAddress);
    const requests = Array.from(
      { length: 200 },
      (_, i) => `GET /legacy/status?code=${200 + (i % 7)} HTTP/1.1\r\nhost: svc\r\n\r\n`,
    ).join('');
    const out = await exchange(
      port,
      requests,
      (t) => (t.match(/HTTP\/1\.1 /g) ?? []).length === 200 && t.endsWith('\r\n\r\n'),
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual(Array.from({ length: 200 }, (_, i) => 200 + (i % 7)));
  });

  it('follows every framing a service may use, and HEAD, 204 and 304 carry no body', async () => {
    const service = rawService((socket, head) => {
      const path = head.split(' ')[1];
      if (path === '/length') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
      else if (path === '/chunked')
        socket.write(
          'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nx-t: 1\r\n\r\n',
        );
      else if (path === '/head') socket.write('HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n');
      else if (path === '/204') socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (path === '/304') socket.write('HTTP/1.1 304 Not Modified\r\netag: "1"\r\n\r\n');
      else if (path === '/early-hints')
        socket.write(
          'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
        );
    });
    const { port } = await sidecar(await listen(service));
    const out = await exchange(
      port,
      [
        'GET /length HTTP/1.1\r\nhost: s\r\n\r\n',
        'GET /chunked HTTP/1.1\r\nhost: s\r\n\r\n',
        'HEAD /head HTTP/1.1\r\nhost: s\r\n\r\n',
        'GET /204 HTTP/1.1\r\nhost: s\r\n\r\n',
        'GET /304 HTTP/1.1\r\nhost: s\r\n\r\n',
        'GET /early-hints HTTP/1.1\r\nhost: s\r\n\r\n',
      ].join(''),
      (t) => t.endsWith('\r\n\r\nok'),
    );
    const answers = out.split(/(?=HTTP\/1\.1 )/);
    expect(answers.map((a) => a.slice(9, 12))).toEqual(['200', '200', '200', '204', '304', '200']);
    expect(answers[0]).toMatch(/\r\n\r\nhello$/);
    expect(answers[1]).toMatch(/\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nx-t: 1\r\n\r\n$/);
    expect(answers[2]).toMatch(/content-length: 99\r\n\r\n$/);
    expect(answers[5]).not.toMatch(/Early Hints/);
  });

  it('passes an answer that ends when the service closes, then closes the client connection', async () => {
    const service = rawService((socket) =>
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil close'),
    );
    const { port } = await sidecar(await listen(service));
    const out = await exchange(port, 'GET / HTTP/1.1\r\nhost: s\r\n\r\n', () => false);
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(out).toMatch(/connection: close\r\n/i);
    expect(out).toMatch(/\r\n\r\nuntil close$/);
  });

  it('loses no request to a service that closes idle keep-alive connections without warning', async () => {
    // Each connection is closed 5 ms after its answer, with no Keep-Alive hint: requests spaced about that
    // far apart race the close. A request that finds its reused connection closed is sent again, fresh.
    let served = 0;
    const service = rawService((socket) => {
      served++;
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      setTimeout(() => socket.destroy(), 5);
    });
    const { proxy, url } = await sidecar(await listen(service));
    const client = new Client(url);
    try {
      for (let i = 0; i < 150; i++) {
        const res = await client.request({ method: 'GET', path: `/n/${i}` });
        expect(res.statusCode).toBe(200);
        expect(await res.body.text()).toBe('ok');
        await new Promise((r) => setTimeout(r, i % 10));
      }
      expect(proxy.passthroughStats).toMatchObject({ requests: 150, errors: 0 });
      expect(served).toBe(150);
    } finally {
      await client.close();
    }
  });

  it('answers 502 with the reason for a malformed answer, and cuts a connection whose answer breaks', async () => {
    const service = rawService((socket, head) => {
      const path = head.split(' ')[1];
      if (path === '/smuggle')
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n');
      else if (path === '/bad-chunk')
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n');
      else if (path === '/dies') {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
        setTimeout(() => socket.destroy(), 20);
      }
    });
    const { proxy, url } = await sidecar(await listen(service));
    const res = await request(`${url}/smuggle`);
    expect(res.statusCode).toBe(502);
    expect(res.headers['x-roam-error']).toBe('ROAM_ERR_UPSTREAM');
    expect((await res.body.json()) as { message: string }).toMatchObject({
      message: expect.stringMatching(/both Transfer-Encoding and Content-Length/),
    });
    for (const path of ['/bad-chunk', '/dies']) {
      await expect(
        request(`${url}${path}`).then((r) => r.body.text()),
        path,
      ).rejects.toThrow();
    }
    expect(proxy.passthroughStats).toMatchObject({ requests: 3, errors: 3 });
  });

  it('hands a connection to the slow path for a request it does not carry, mid-connection', async () => {
    const { proxy, port } = await sidecar(legacyAddress);
    const out = await exchange(
      port,
      'GET /legacy/hello HTTP/1.1\r\nhost: s\r\n\r\n' +
        'POST /legacy/echo HTTP/1.1\r\nhost: s\r\ntransfer-encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n' +
        'GET /legacy/hello HTTP/1.1\r\nhost: s\r\n\r\n' +
        'GET /legacy/hello HTTP/1.1\r\nhost: s\r\nconnection: close\r\n\r\n',
      () => false,
    );
    expect((out.match(/HTTP\/1\.1 200 OK/g) ?? []).length).toBe(4);
    expect(out).toContain('abcd');
    expect(proxy.passthroughStats.requests).toBe(4);
  });

  it('answers a service that replies before the request body is in, then closes the connection', async () => {
    const service = rawService((socket) =>
      socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nnope'),
    );
    const { port } = await sidecar(await listen(service));
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST / HTTP/1.1\r\nhost: s\r\ncontent-length: 1000000\r\n\r\npartial');
    let out = '';
    socket.on('data', (d) => {
      out += d;
    });
    await once(socket, 'end');
    socket.destroy();
    expect(out).toMatch(/^HTTP\/1\.1 413 Payload Too Large\r\n/);
    expect(out).toMatch(/connection: close\r\n/);
    expect(out).toMatch(/\r\n\r\nnope$/);
  });

  it('cuts a request whose body stalls past the idle timeout and frees its upstream connection', async () => {
    let heads = 0;
    const service = rawService(() => {
      heads++;
    });
    const { proxy, port } = await sidecar(await listen(service), { idleTimeoutMs: 300 });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('POST / HTTP/1.1\r\nhost: s\r\ncontent-length: 10\r\n\r\nabc');
    await once(socket, 'close');
    expect(heads).toBe(1);
    await vi.waitFor(() => expect(proxy.inFlightRequests).toBe(0));
    expect(proxy.passthroughStats.requests).toBe(1);
  });
});
