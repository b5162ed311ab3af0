// gRPC passes through the proxy unchanged: unary and streaming calls, metadata, and error statuses (in HTTP/2
// trailers, or trailers-only), through a real `roam proxy` process; then the HTTP/2 leg frame by frame, in
// process, between raw node:http2 peers: any window and frame size, trailers both ways, RST_STREAM codes both
// ways, refused streams and GOAWAY, grpc-timeout; and the passthrough timeouts of the HTTP/1.1 leg.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, {
  type ClientHttp2Session,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type Settings,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import type { ForwardResult } from '../passthrough.ts';
import { type ForwardOptions, Upstream, type UpstreamOptions } from '../upstream.ts';

type Reply = { message: string; index: number };
type EchoClient = grpc.Client & {
  Say(req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Reply) => void): void;
  Repeat(req: object): grpc.ClientReadableStream<Reply>;
};

const definition = protoLoader.loadSync(new URL('./fixtures/echo.proto', import.meta.url).pathname);
const Echo = (
  grpc.loadPackageDefinition(definition) as { roam: { test: { Echo: grpc.ServiceClientConstructor } } }
).roam.test.Echo;

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } =
  http2.constants;
const GRPC = { 'content-type': 'application/grpc' };

const echoService = {
  Say(
    call: grpc.ServerUnaryCall<{ message: string; failWith: number }, Reply>,
    cb: grpc.sendUnaryData<Reply>,
  ) {
    if (call.request.failWith) return cb({ code: call.request.failWith, details: 'asked to fail' });
    const md = new grpc.Metadata();
    md.set('x-seen-by', 'echo');
    call.sendMetadata(md);
    cb(null, { message: `${call.request.message} (${call.metadata.get('x-client')[0]})`, index: 0 });
  },
  Repeat(call: grpc.ServerWritableStream<{ message: string; count: number }, Reply>) {
    for (let i = 0; i < call.request.count; i++) call.write({ message: call.request.message, index: i });
    call.end();
  },
};

async function grpcServer(options: grpc.ServerOptions = {}): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(options);
  server.addService(Echo.service, echoService);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port };
}

function say(client: EchoClient, message: string, md = new grpc.Metadata()): Promise<Reply> {
  return new Promise((resolve, reject) =>
    client.Say({ message }, md, (err, res) => (err ? reject(err) : resolve(res!))),
  );
}

describe('gRPC through the proxy', () => {
  let server: grpc.Server;
  let proxy: RoamProcess;
  let client: EchoClient;

  beforeAll(async () => {
    const s = await grpcServer();
    server = s.server;
    proxy = await startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${s.port}`]);
    client = new Echo(proxy.address, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });
  afterAll(async () => {
    client.close();
    server.forceShutdown();
    await stopAll();
  });

  it('passes a unary call with its metadata both ways', async () => {
    const md = new grpc.Metadata();
    md.set('x-client', 'test');
    expect((await say(client, 'hi', md)).message).toBe('hi (test)');
  });

  it('passes a server stream in order', async () => {
    const got: Reply[] = [];
    const stream = client.Repeat({ message: 'tick', count: 5 });
    for await (const r of stream) got.push(r as Reply);
    expect(got.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('passes error statuses carried in trailers', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.Say({ message: 'x', failWith: grpc.status.NOT_FOUND }, new grpc.Metadata(), (e) => resolve(e!)),
    );
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe('asked to fail');
  });

  it("loses no call across the service's connection-age GOAWAYs", async () => {
    // The service retires each connection after ~50 ms (GOAWAY), mid-traffic: calls it did not take are
    // sent again by the proxy, or refused to the client for its own transparent retry; none fails.
    const aging = await grpcServer({
      'grpc.max_connection_age_ms': 50,
      'grpc.max_connection_age_grace_ms': 30_000,
    });
    const p = await startRoam([
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      `http://127.0.0.1:${aging.port}`,
    ]);
    const c = new Echo(p.address, grpc.credentials.createInsecure()) as unknown as EchoClient;
    const md = new grpc.Metadata();
    md.set('x-client', 'aging');
    let ok = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 500) {
          const i = next++;
          const message = `${i}:${'m'.repeat(i * 97)}`;
          if ((await say(c, message, md)).message === `${message} (aging)`) ok++;
        }
      }),
    );
    expect(ok).toBe(500);
    c.close();
    aging.server.forceShutdown();
    await p.stop();
  });
});

// ---- The HTTP/2 leg in process, between raw peers ----

interface Peer {
  url: string;
  close(): Promise<void>;
}

/** Listens on a free loopback port; the server's URL. */
async function listen(server: http.Server | http2.Http2Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw HTTP/2 server on port 0; `sessions` lets a test act on the connection (GOAWAY). */
async function h2Server(
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, session: ServerHttp2Session) => void,
  settings: Settings = {},
): Promise<Peer & { sessions: Set<ServerHttp2Session> }> {
  const server = http2.createServer({ settings });
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (s: ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers, stream.session as ServerHttp2Session);
  });
  return {
    url: await listen(server),
    sessions,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A front server that hands every request to `upstream.forward`, recording each ForwardResult. */
async function front(
  upstream: Upstream,
  options: ForwardOptions | (() => ForwardOptions) = {},
  h1 = false,
): Promise<Peer & { results: ForwardResult[] }> {
  const results: ForwardResult[] = [];
  const handler = (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ): void => {
    void upstream.forward(req, res, typeof options === 'function' ? options() : options).then((r) => {
      results.push(r);
      // What the proxy does with an error result: a local reply when nothing was sent yet.
      if (r.error && !res.headersSent) (res as ServerResponse).writeHead(r.timedOut ? 504 : 502).end();
    });
  };
  const server = h1 ? http.createServer(handler) : http2.createServer(handler);
  return {
    url: await listen(server),
    results,
    async close() {
      if (server instanceof http.Server) server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await upstream.destroy();
    },
  };
}

interface Answer {
  head: IncomingHttpHeaders;
  /** The head's HEADERS frame ended the stream (a trailers-only answer). */
  headEnded: boolean;
  body: Buffer;
  trailers: IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/**
 * One request on `session`: `body` sent (null: END_STREAM on HEADERS), with `trailers` after it if given; the
 * answer read with a pause every 16 chunks when `slow` (so backpressure reaches across the proxy).
 */
function exchange(
  session: ClientHttp2Session,
  body: Buffer | null,
  options: {
    path?: string;
    headers?: OutgoingHttpHeaders;
    trailers?: OutgoingHttpHeaders;
    slow?: boolean;
  } = {},
): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request(
      { ':method': 'POST', ':path': options.path ?? '/t.S/M', ...GRPC, ...options.headers },
      { endStream: body === null, waitForTrailers: options.trailers !== undefined },
    );
    const answer: Answer = {
      head: {},
      headEnded: false,
      body: Buffer.alloc(0),
      trailers: undefined,
      rstCode: 0,
    };
    const chunks: Buffer[] = [];
    stream.on('response', (head, flags) => {
      answer.head = head;
      answer.headEnded = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => {
      answer.trailers = t;
    });
    stream.on('wantTrailers', () => stream.sendTrailers(options.trailers!));
    let n = 0;
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.slow && ++n % 16 === 0) {
        stream.pause();
        setTimeout(() => stream.resume(), 2);
      }
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      answer.body = Buffer.concat(chunks);
      answer.rstCode = stream.rstCode;
      resolve(answer);
    });
    if (body !== null) stream.end(body);
  });
}

/** Echoes the request body as it arrives (with backpressure), then trailers saying what arrived. */
function echoStream(stream: ServerHttp2Stream): void {
  stream.respond({ ':status': 200, ...GRPC }, { waitForTrailers: true });
  const hash = createHash('sha256');
  let bytes = 0;
  let requestTrailers: IncomingHttpHeaders = {};
  stream.on('trailers', (t) => {
    requestTrailers = t;
  });
  stream.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    if (!stream.write(chunk)) {
      stream.pause();
      stream.once('drain', () => stream.resume());
    }
  });
  stream.on('end', () => {
    stream.once('wantTrailers', () =>
      stream.sendTrailers({
        'grpc-status': '0',
        'x-bytes': String(bytes),
        'x-sha256': hash.digest('hex'),
        'x-request-trailer': String(requestTrailers['x-check'] ?? ''),
      }),
    );
    stream.end();
  });
}

/** A service that never answers, or (/head) answers its head and 10 bytes, then nothing; `closed` gets the
 * RST_STREAM code each of its streams ended with. */
function stallingService(closed: number[]): ReturnType<typeof h2Server> {
  return h2Server((stream, headers) => {
    stream.on('close', () => closed.push(stream.rstCode));
    if (headers[':path'] === '/head') {
      stream.respond({ ':status': 200, ...GRPC });
      stream.write(Buffer.alloc(10));
    }
  });
}

function connect(url: string, settings: Settings = {}): ClientHttp2Session {
  const session = http2.connect(url, { settings });
  session.on('error', () => {});
  return session;
}

/** The front proxy for `service` and a client session on it; `end()` closes all three. */
async function through(
  service: Peer,
  upstreamOptions: UpstreamOptions = options,
  forwardOptions: ForwardOptions | (() => ForwardOptions) = {},
) {
  const proxy = await front(new Upstream(service.url, upstreamOptions), forwardOptions);
  const session = connect(proxy.url);
  return {
    proxy,
    session,
    async end() {
      session.close();
      await proxy.close();
      await service.close();
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

const options: UpstreamOptions = { connections: 4 };

describe('the HTTP/2 leg, frame by frame', () => {
  // Smallest window (1 byte is legal but takes a frame per byte), the default, and the largest; smallest and
  // largest frames.
  const SETTINGS: Settings[] = [
    { initialWindowSize: 100, maxFrameSize: 16384 },
    {},
    { initialWindowSize: 2 ** 31 - 1, maxFrameSize: 2 ** 24 - 1 },
  ];

  it('relays every byte and trailer both ways under any window and frame size, with slow readers', async () => {
    let checked = 0;
    for (const upstreamSettings of SETTINGS) {
      const service = await h2Server(echoStream, upstreamSettings);
      const proxy = await front(new Upstream(service.url, options));
      for (const clientSettings of SETTINGS) {
        const session = connect(proxy.url, clientSettings);
        await Promise.all(
          [0, 1, 16383, 16384, 16385, 65535, 65536, 65537, 200_000].map(async (size, i) => {
            const body = randomBytes(size);
            const answer = await exchange(session, body, {
              trailers: { 'x-check': `c${i}` },
              slow: i % 2 === 0,
            });
            expect(answer.head[':status']).toBe(200);
            expect(answer.body.equals(body)).toBe(true);
            expect(answer.trailers).toMatchObject({
              'grpc-status': '0',
              'x-bytes': String(size),
              'x-sha256': sha256(body),
              'x-request-trailer': `c${i}`,
            });
            checked++;
          }),
        );
        session.close();
      }
      await proxy.close();
      await service.close();
    }
    expect(checked).toBe(SETTINGS.length * SETTINGS.length * 9);
  });

  it('passes a trailers-only answer as one HEADERS frame ending the stream', async () => {
    const service = await h2Server((stream) =>
      stream.respond(
        { ':status': 200, ...GRPC, 'grpc-status': '5', 'grpc-message': 'not%20here' },
        { endStream: true },
      ),
    );
    const { session, end } = await through(service);
    for (const body of [null, randomBytes(10)]) {
      const answer = await exchange(session, body);
      expect(answer.headEnded).toBe(true);
      expect(answer.head).toMatchObject({ ':status': 200, 'grpc-status': '5', 'grpc-message': 'not%20here' });
      expect(answer.trailers).toBeUndefined();
      expect(answer.body.length).toBe(0);
    }
    await end();
  });

  it("resets the client's stream with the code the service reset it with, before or after the head", async () => {
    const service = await h2Server((stream, headers) => {
      const [when, code] = String(headers[':path']).split('/').slice(1);
      if (when === 'after') {
        // The reset follows the last DATA frame in place of the trailers: Node's close() would otherwise end
        // the stream (END_STREAM) before resetting it.
        stream.respond({ ':status': 200, ...GRPC }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.close(Number(code)));
        stream.end(Buffer.alloc(1000));
      } else {
        stream.close(Number(code));
      }
    });
    const { session, end } = await through(service);
    for (const when of ['before', 'after'])
      for (const code of [NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM]) {
        const answer = await exchange(session, randomBytes(100), { path: `/${when}/${code}` });
        expect(answer.rstCode).toBe(code);
        expect(answer.trailers).toBeUndefined();
        if (when === 'after') expect(answer.body.length).toBe(1000);
      }
    await end();
  });

  it("resets the service's stream with the code the client reset it with, and when the client goes away", async () => {
    const closed: number[] = [];
    const service = await h2Server((stream) => {
      stream.respond({ ':status': 200, ...GRPC });
      stream.write('first');
      stream.on('close', () => closed.push(stream.rstCode));
    });
    const { proxy, session, end } = await through(service);
    for (const code of [NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM]) {
      const stream = session.request({ ':method': 'POST', ':path': '/t.S/M', ...GRPC });
      stream.on('error', () => {});
      await once(stream, 'data');
      stream.close(code);
      await until(() => closed.length > 0, 'the reset to reach the service');
      expect(closed.shift()).toBe(code);
    }
    // The client's connection goes away with a call open.
    const gone = connect(proxy.url);
    const stream = gone.request({ ':method': 'POST', ':path': '/t.S/M', ...GRPC });
    stream.on('error', () => {});
    await once(stream, 'data');
    gone.destroy();
    await until(() => closed.length > 0, 'the service to see the call end');
    expect(closed.shift()).toBe(NGHTTP2_CANCEL);
    await end();
  });

  it('sends a refused call again once while its body is at hand; past that the client is refused', async () => {
    const attempts = new Map<string, number>();
    const service = await h2Server((stream, headers) => {
      const path = String(headers[':path']);
      const n = (attempts.get(path) ?? 0) + 1;
      attempts.set(path, n);
      // /once/...: refused the first time; /always/...: every time; /late/...: refused the first time once
      // more than a replay keeps has arrived.
      if (path.startsWith('/late') && n === 1) {
        let got = 0;
        stream.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got > 300_000) stream.close(NGHTTP2_REFUSED_STREAM);
        });
      } else if (path.startsWith('/always') || n === 1) {
        stream.resume();
        stream.close(NGHTTP2_REFUSED_STREAM);
      } else echoStream(stream);
    });
    const { session, end } = await through(service);
    const small = randomBytes(100_000);
    const answer = await exchange(session, small, { path: '/once/small' });
    expect(answer.body.equals(small)).toBe(true);
    expect(attempts.get('/once/small')).toBe(2);
    // Bodiless too.
    expect((await exchange(session, null, { path: '/once/empty' })).trailers?.['x-bytes']).toBe('0');
    expect((await exchange(session, small, { path: '/always/small' })).rstCode).toBe(NGHTTP2_REFUSED_STREAM);
    expect(attempts.get('/always/small')).toBe(2);
    // Refused after more than a replay keeps was sent: refused to the client, not sent again.
    expect((await exchange(session, randomBytes(1_000_000), { path: '/late/large' })).rstCode).toBe(
      NGHTTP2_REFUSED_STREAM,
    );
    expect(attempts.get('/late/large')).toBe(1);
    await end();
  });

  it("sends calls above a GOAWAY's last stream id again on a new connection, and loses none", async () => {
    // Each connection processes 20 streams, then GOAWAYs naming the last; the streams in flight past it
    // were never processed, and go again on the next connection.
    let connections = 0;
    const service = await h2Server((stream, _headers, session) => {
      const s = session as ServerHttp2Session & { served?: number };
      if (s.served === undefined) connections++;
      s.served = (s.served ?? 0) + 1;
      if (s.served <= 20) {
        echoStream(stream);
        if (s.served === 20) s.goaway(0, stream.id);
      } else {
        stream.resume();
        stream.close(NGHTTP2_REFUSED_STREAM);
      }
    });
    const { session, end } = await through(service);
    const bodies = Array.from({ length: 400 }, (_, i) => randomBytes((i * 331) % 50_000));
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const answer = await exchange(session, body);
          expect(answer.rstCode).toBe(0);
          expect(answer.body.equals(body)).toBe(true);
          expect(answer.trailers?.['x-sha256']).toBe(sha256(body));
        }
      }),
    );
    expect(connections).toBeGreaterThanOrEqual(20);
    await end();
  });

  it('answers DEADLINE_EXCEEDED trailers-only when grpc-timeout passes, and resets the call upstream', async () => {
    const closed: number[] = [];
    const service = await stallingService(closed);
    const { proxy, session, end } = await through(service);
    // The same 50 ms in every unit the header has (8 digits at most).
    for (const timeout of ['50m', '50000u', '50000000n']) {
      const answer = await exchange(session, randomBytes(10), { headers: { 'grpc-timeout': timeout } });
      expect(answer.headEnded).toBe(true);
      expect(answer.head).toMatchObject({ ':status': 200, 'grpc-status': '4' });
      await until(() => closed.length > 0, 'the call upstream to end');
      expect(closed.shift()).toBe(NGHTTP2_CANCEL);
    }
    // Once part of an answer is out, the client's stream is reset instead.
    const answer = await exchange(session, randomBytes(10), {
      path: '/head',
      headers: { 'grpc-timeout': '50m' },
    });
    expect(answer.body.length).toBe(10);
    expect(answer.rstCode).toBe(NGHTTP2_CANCEL);
    await until(() => closed.length > 0, 'the call upstream to end');
    expect(closed.shift()).toBe(NGHTTP2_CANCEL);
    expect(proxy.results.filter((r) => r.timedOut).length).toBe(4);
    await end();
  });

  it('has no idle timeout for gRPC: a quiet stream lives on past the ordinary body timeout', async () => {
    const service = await h2Server((stream) => {
      stream.respond({ ':status': 200, ...GRPC }, { waitForTrailers: true });
      stream.write('a');
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      setTimeout(() => stream.end('b'), 600);
    });
    const { session, end } = await through(service, {
      ...options,
      headersTimeoutMs: 200,
      bodyTimeoutMs: 200,
    });
    const answer = await exchange(session, null);
    expect(answer.body.toString()).toBe('ab');
    expect(answer.trailers?.['grpc-status']).toBe('0');
    await end();
  });

  it('stops the attempt when the signal aborts: a local reply before the head, a reset after', async () => {
    const closed: number[] = [];
    const service = await stallingService(closed);
    let controller = new AbortController();
    const { proxy, session, end } = await through(service, options, () => ({ signal: controller.signal }));
    for (const path of ['/quiet', '/head']) {
      controller = new AbortController();
      const stream = session.request({ ':method': 'POST', ':path': path, ...GRPC });
      stream.on('error', () => {});
      let status: unknown;
      stream.on('response', (head) => {
        status = head[':status'];
      });
      stream.resume();
      stream.end('request');
      // Abort once the call is at the service (/quiet), or once its head reached the client (/head).
      if (path === '/head') await once(stream, 'response');
      else await until(() => service.sessions.size > 0 && proxy.results.length === 0, 'the call to start');
      await new Promise((r) => setTimeout(r, 20));
      controller.abort(new Error('given up'));
      await once(stream, 'close');
      await until(() => closed.length > 0, 'the call upstream to end');
      expect(closed.shift()).toBe(NGHTTP2_CANCEL);
      if (path === '/quiet') expect(status).toBe(502);
      else expect(stream.rstCode).toBe(NGHTTP2_CANCEL);
    }
    expect(proxy.results[0]?.error?.message).toBe('given up');
    await end();
  });
});

describe('passthrough timeouts (HTTP/1.1 leg)', () => {
  it('gives up on a service that never answers, with timedOut so the proxy answers 504', async () => {
    const service = http.createServer(() => {});
    const url = await listen(service);
    const proxy = await front(new Upstream(url, { ...options, headersTimeoutMs: 200 }), {}, true);
    const res = await request(`${proxy.url}/never`);
    expect(res.statusCode).toBe(504);
    await res.body.dump();
    expect(proxy.results[0]?.timedOut).toBe(true);
    expect((proxy.results[0]?.error as { code?: string } | undefined)?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    await proxy.close();
    service.closeAllConnections();
    service.close();
  });

  it('cuts an answer whose body stalls past the body timeout', async () => {
    const service = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    const url = await listen(service);
    const proxy = await front(new Upstream(url, { ...options, bodyTimeoutMs: 200 }), {}, true);
    const res = await request(`${proxy.url}/stall`);
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    expect(proxy.results[0]?.timedOut).toBe(true);
    expect((proxy.results[0]?.error as { code?: string } | undefined)?.code).toBe('UND_ERR_BODY_TIMEOUT');
    await proxy.close();
    service.closeAllConnections();
    service.close();
  });
});
