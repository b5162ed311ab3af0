// The HTTP/1.1 passthrough fast path: a request no route claims, in the plain form almost every client sends,
// goes to the service as bytes. The proxy reads the request head itself (h1-parse.ts), writes it on with the
// proxy's headers to a pooled raw connection, streams the body with its length checked, and sends the answer
// back with its framing followed (length, chunked or until close), without Node's HTTP objects or undici's
// per-request machinery. Anything else (a route, an odd or malformed head, an upgrade, a chunked upload, the
// memory cap, a drain) hands the connection, at a request boundary, to Node's HTTP server: the slow path.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { RoamError } from '../core/errors.ts';
import { rawReply } from '../core/http.ts';
import {
  ChunkedFraming,
  headEnd,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from './h1-parse.ts';
import type { RawPool, UpstreamConnection, UpstreamUser } from './h1-pool.ts';
import type { ForwardResult } from './passthrough.ts';

/** A request head the fast path read, and who sent it. */
export type FastRequest = Omit<RequestHead, 'keepAlive' | 'length'> & { client: string };

/** One exchange the proxy agreed to carry on the fast path. */
export interface FastExchange {
  /** Headers to send upstream, flattened (hop-by-hop dropped, X-Forwarded-*, traceparent set). */
  headers: string[];
  /** Told once, when the exchange is over; returns the error to answer with if no response had started. */
  end(result: ForwardResult): RoamError | undefined;
}

export interface FastPolicy {
  /** An exchange if the proxy lets this request take the fast path; undefined sends it to the slow path. */
  begin(req: FastRequest): FastExchange | undefined;
  /** Draining: answers carry `connection: close` and connections close after them. */
  readonly draining: boolean;
}

export interface FastPathOptions {
  maxHeaderSize: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  requestTimeoutMs: number;
  upstreamHeadersTimeoutMs: number;
  upstreamBodyTimeoutMs: number;
}

// Request heads with more header lines go to Node's parser (which caps them in its own way).
const MAX_HEADER_LINES = 100;
// Bytes a client may send ahead (pipelined requests) before the proxy stops reading from it.
const READ_AHEAD = 64 * 1024;
// The largest response head taken from the service (Node's and undici's default limit).
const MAX_RESPONSE_HEAD = 16 * 1024;

const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer']);

class UpstreamFailure extends Error {
  readonly timedOut: true | undefined;
  constructor(message: string, timedOut?: true) {
    super(message);
    this.timedOut = timedOut;
  }
}

export class FastPassthrough {
  private readonly connections = new Set<Connection>();
  readonly pool: RawPool;
  readonly policy: FastPolicy;
  readonly options: FastPathOptions;
  /** Gives a connection (with bytes already read from it) to Node's HTTP server. */
  readonly slowPath: (socket: Socket, buffered: Buffer | undefined) => void;

  private readonly sweeper: NodeJS.Timeout;

  constructor(
    pool: RawPool,
    policy: FastPolicy,
    options: FastPathOptions,
    slowPath: (socket: Socket, buffered: Buffer | undefined) => void,
  ) {
    this.pool = pool;
    this.policy = policy;
    this.options = options;
    this.slowPath = slowPath;
    // Timeouts are enforced by one sweep rather than a timer per socket: a request then costs a flag set on
    // activity instead of timer list updates (Node's HTTP server checks its head and request timeouts so too).
    const shortest = Math.min(
      options.idleTimeoutMs,
      options.keepAliveTimeoutMs,
      options.requestTimeoutMs,
      options.upstreamHeadersTimeoutMs,
      options.upstreamBodyTimeoutMs,
    );
    this.sweeper = setInterval(() => this.sweep(), Math.max(20, Math.min(1000, shortest / 4))).unref();
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.connections) c.check(now);
  }

  /** Stops the sweep (the proxy is shutting down). */
  stop(): void {
    clearInterval(this.sweeper);
  }

  /** Takes a new HTTP/1.1 connection whose first bytes were read already. */
  accept(socket: Socket, first: Buffer): void {
    const c = new Connection(this, socket, first);
    this.connections.add(c);
    c.start();
  }

  forget(c: Connection): void {
    this.connections.delete(c);
  }

  /** Closes connections between requests (a drain); busy ones close after their answer. */
  closeIdle(): void {
    for (const c of this.connections) c.closeIfIdle();
  }
}

class Connection {
  private readonly fp: FastPassthrough;
  private readonly socket: Socket;
  private readonly client: string;
  /** Bytes read from the client and not yet consumed. */
  private buffered: Buffer | undefined;
  private exchange: Exchange | undefined;
  private readonly onData = (chunk: Buffer) => this.data(chunk);
  private readonly onEnd = () => this.clientEnded();
  private readonly onClose = () => this.clientClosed();
  /** Bytes moved since the last sweep; `since` is when a sweep last saw them move. */
  active = true;
  private since = performance.now();
  /** The client ended its side: finish the exchange in progress, take no other. */
  ended = false;
  /** The connection is closing: what the client still sends is read and dropped. */
  private closing = false;

  constructor(fp: FastPassthrough, socket: Socket, first: Buffer) {
    this.fp = fp;
    this.socket = socket;
    this.client = socket.remoteAddress ?? 'unknown';
    this.buffered = first;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
  }

  /** The sweep: cuts a connection quiet for its timeout (idle within an exchange, keep-alive between). */
  check(now: number): void {
    if (this.active) {
      this.active = false;
      this.since = now;
    } else if (
      now - this.since >
      (this.exchange ? this.fp.options.idleTimeoutMs : this.fp.options.keepAliveTimeoutMs)
    ) {
      this.socket.destroy();
      return;
    }
    this.exchange?.check(now);
  }

  /** Starts the next request if its head is here, or waits for it, or hands the connection over. */
  start(): void {
    const buf = this.buffered;
    const options = this.fp.options;
    if (buf === undefined || buf.length === 0) {
      this.buffered = undefined;
      if (this.ended || this.fp.policy.draining) {
        this.socket.end();
        return;
      }
      this.socket.resume();
      return;
    }
    const end = headEnd(buf);
    // An incomplete head is left to Node's parser, with its head timeout and size limit.
    const head =
      end < 0 || end > options.maxHeaderSize ? undefined : parseRequestHead(buf, end, MAX_HEADER_LINES);
    const exchange = head === undefined ? undefined : this.fp.policy.begin({ ...head, client: this.client });
    if (head === undefined || exchange === undefined) {
      this.handOver();
      return;
    }
    this.buffered = end === buf.length ? undefined : buf.subarray(end);
    this.exchange = new Exchange(this, this.fp, head.method, head.target, head, exchange);
    this.exchange.send();
  }

  private handOver(): void {
    const { socket } = this;
    // A client that already ended its side cannot have its bytes read again by Node's server (a stream takes
    // nothing back after its end): what it sent past the fast path's last answer goes unanswered.
    if (socket.readableEnded) {
      this.fp.forget(this);
      socket.destroy();
      return;
    }
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onClose);
    socket.pause();
    this.fp.forget(this);
    this.fp.slowPath(socket, this.buffered);
    this.buffered = undefined;
  }

  private data(chunk: Buffer): void {
    this.active = true;
    if (this.closing) return;
    const ex = this.exchange;
    if (ex !== undefined) {
      const rest = ex.requestBody(chunk);
      if (rest !== undefined) this.append(rest);
      return;
    }
    this.append(chunk);
    this.start();
  }

  private append(chunk: Buffer): void {
    this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    if (this.exchange !== undefined && this.buffered.length > READ_AHEAD) this.socket.pause();
  }

  private clientEnded(): void {
    this.ended = true;
    if (this.exchange === undefined) this.socket.end();
    else this.exchange.clientEnded();
  }

  private clientClosed(): void {
    this.fp.forget(this);
    this.exchange?.clientClosed();
  }

  closeIfIdle(): void {
    if (this.exchange === undefined) this.socket.end();
  }

  get out(): Socket {
    return this.socket;
  }

  /** Takes back `n` bytes of body from what was buffered. */
  takeBuffered(n: number): Buffer | undefined {
    const buf = this.buffered;
    if (buf === undefined || n === 0) return undefined;
    if (buf.length <= n) {
      this.buffered = undefined;
      return buf;
    }
    this.buffered = buf.subarray(n);
    return buf.subarray(0, n);
  }

  /** The exchange is over and the connection may serve the next request (or close, as `keepOpen` says). */
  finished(keepOpen: boolean): void {
    this.exchange = undefined;
    if (!keepOpen) {
      this.abandon();
      this.socket.end();
      return;
    }
    this.start();
  }

  /** No further request is read from this connection (it is being answered with an error, or cut). */
  abandon(): void {
    this.exchange = undefined;
    this.closing = true;
    this.buffered = undefined;
  }
}

const HEAD = 0;
const BODY = 1;
const DONE = 2;

/** One request and its answer, between a client connection and one upstream connection. */
class Exchange implements UpstreamUser {
  private readonly conn: Connection;
  private readonly fp: FastPassthrough;
  private readonly method: string;
  private readonly target: string;
  private readonly keepAlive: boolean;
  private readonly contentLength: number;
  private readonly ex: FastExchange;
  private readonly startedAt = performance.now();
  private upstream: UpstreamConnection | undefined;
  /** When the request went out on `upstream` (its head timeout counts from here). */
  private sentAt = 0;
  /** Upstream bytes since the last sweep, and when it was last seen so. */
  private upstreamActive = false;
  private upstreamSince = 0;
  private retried = false;
  /** Request body bytes still to come from the client. */
  private bodyLeft: number;
  /** Request body bytes that arrived before the upstream connection did. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private phase = HEAD;
  private responseHead: Buffer | undefined;
  private response: ResponseHead | undefined;
  private responseLeft = 0;
  private chunked: ChunkedFraming | undefined;
  private responseBytes = 0;
  /** The upstream connection sent more than its answer, or was left mid-message: not to be reused. */
  private spoiled = false;
  private closeClient = false;
  /** The upstream is paused because the client reads slower than it sends: its silence is not its own. */
  private waitingForClient = false;
  private readonly onClientDrain = () => {
    this.conn.active = true;
    this.waitingForClient = false;
    this.upstream?.socket.resume();
  };

  constructor(
    conn: Connection,
    fp: FastPassthrough,
    method: string,
    target: string,
    head: { keepAlive: boolean; contentLength: number },
    ex: FastExchange,
  ) {
    this.conn = conn;
    this.fp = fp;
    this.method = method;
    this.target = target;
    this.keepAlive = head.keepAlive;
    this.contentLength = head.contentLength;
    this.bodyLeft = head.contentLength;
    this.ex = ex;
    const early = conn.takeBuffered(this.bodyLeft);
    if (early !== undefined) {
      this.early.push(early);
      this.earlyBytes = early.length;
      this.bodyLeft -= early.length;
    }
  }

  send(): void {
    this.fp.pool.acquire((err, upstream) => {
      if (this.phase === DONE) {
        if (upstream !== undefined) this.fp.pool.release(upstream, undefined);
        return;
      }
      if (err !== undefined || upstream === undefined) {
        this.fail(new UpstreamFailure(`cannot connect to the upstream: ${err?.message ?? 'no connection'}`));
        return;
      }
      this.attach(upstream);
    }, this.retried);
  }

  private attach(upstream: UpstreamConnection): void {
    this.upstream = upstream;
    upstream.user = this;
    this.sentAt = performance.now();
    const h = this.ex.headers;
    let head = `${this.method} ${this.target} HTTP/1.1\r\n`;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    head += '\r\n';
    const socket = upstream.socket;
    if (this.early.length === 0) {
      socket.write(head, 'latin1');
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      for (const chunk of this.early) socket.write(chunk);
      socket.uncork();
      this.early = [];
      this.earlyBytes = 0;
    }
    if (this.bodyLeft > 0) this.conn.out.resume();
  }

  /** The sweep: the upstream's head and body timeouts, and the client's whole-request timeout. */
  check(now: number): void {
    const options = this.fp.options;
    if (this.phase === HEAD && this.upstream !== undefined) {
      if (now - this.sentAt > options.upstreamHeadersTimeoutMs) this.timedOut();
    } else if (this.phase === BODY) {
      if (this.upstreamActive || this.waitingForClient) {
        this.upstreamActive = false;
        this.upstreamSince = now;
      } else if (now - this.upstreamSince > options.upstreamBodyTimeoutMs) {
        this.timedOut();
      }
    }
    if (this.phase !== DONE && this.bodyLeft > 0 && now - this.startedAt > options.requestTimeoutMs)
      this.requestTimedOut();
  }

  /** Client bytes while this exchange runs: body up to its length, then (returned) the next request's. */
  requestBody(chunk: Buffer): Buffer | undefined {
    if (this.bodyLeft === 0) return chunk;
    const take = Math.min(this.bodyLeft, chunk.length);
    const body = take === chunk.length ? chunk : chunk.subarray(0, take);
    this.bodyLeft -= take;
    const up = this.upstream;
    if (up === undefined) {
      this.early.push(body);
      this.earlyBytes += body.length;
      if (this.earlyBytes > READ_AHEAD) this.conn.out.pause();
    } else if (!up.socket.write(body)) {
      this.conn.out.pause();
    }
    return take === chunk.length ? undefined : chunk.subarray(take);
  }

  upstreamDrained(): void {
    this.conn.out.resume();
  }

  upstreamData(chunk: Buffer): void {
    this.upstreamActive = true;
    if (this.phase === HEAD) {
      const buf = this.responseHead === undefined ? chunk : Buffer.concat([this.responseHead, chunk]);
      this.responseHead = undefined;
      this.responseStart(buf);
    } else {
      this.responseBody(chunk);
    }
  }

  /** Reads response heads from `buf` (skipping 1xx ones) and starts the answer once the final one is in. */
  private responseStart(buf: Buffer): void {
    let at = buf;
    let res: ResponseHead | string;
    for (;;) {
      const end = headEnd(at);
      if (end < 0) {
        if (at.length > MAX_RESPONSE_HEAD) {
          this.fail(new UpstreamFailure(`response head larger than ${MAX_RESPONSE_HEAD} bytes`));
          return;
        }
        this.responseHead = at;
        return;
      }
      res = parseResponseHead(at, end, this.method);
      if (typeof res === 'string') {
        this.fail(new UpstreamFailure(`malformed response from the upstream: ${res}`));
        return;
      }
      if (res.status === 101) {
        this.fail(new UpstreamFailure('the upstream switched protocols unasked'));
        return;
      }
      at = at.subarray(end);
      if (res.status >= 200) break;
    }
    this.response = res;
    // The connection ends with this answer if the client or the service says so, if the answer's end is the
    // service closing, in a drain, or if the request's body is still coming (its rest cannot be told apart
    // from a next request once the answer is out).
    this.closeClient =
      !this.keepAlive ||
      res.framing === 'close' ||
      this.fp.policy.draining ||
      this.bodyLeft > 0 ||
      this.conn.ended;
    this.phase = BODY;
    const out = this.conn.out;
    out.cork();
    out.write(this.clientHead(res), 'latin1');
    if (res.framing === 'length') this.responseLeft = res.contentLength;
    else if (res.framing === 'chunked') this.chunked = new ChunkedFraming();
    if (res.framing === 'none' || (res.framing === 'length' && res.contentLength === 0)) {
      if (at.length > 0) this.spoiled = true;
      out.uncork();
      this.complete();
      return;
    }
    if (at.length > 0) this.responseBody(at);
    out.uncork();
  }

  private clientHead(res: ResponseHead): string {
    const h = res.headers;
    let tokens: string[] | undefined;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i]!.toLowerCase() === 'connection')
        tokens = [
          ...(tokens ?? []),
          ...h[i + 1]!.toLowerCase()
            .split(',')
            .map((t) => t.trim()),
        ];
    }
    let head = `HTTP/1.1 ${res.status} ${res.reason || STATUS_CODES[res.status] || ''}\r\n`;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!.toLowerCase();
      if (HOP_BY_HOP_RESPONSE.has(name) || tokens?.includes(name)) continue;
      head += `${h[i]}: ${h[i + 1]}\r\n`;
    }
    if (this.closeClient) head += 'connection: close\r\n';
    return `${head}\r\n`;
  }

  private responseBody(chunk: Buffer): void {
    const res = this.response!;
    let n: number;
    if (res.framing === 'length') {
      n = Math.min(this.responseLeft, chunk.length);
      this.responseLeft -= n;
    } else if (res.framing === 'chunked') {
      const fed = this.chunked!.feed(chunk);
      if (typeof fed === 'string') {
        this.cut(new UpstreamFailure(`malformed chunked body from the upstream: ${fed}`));
        return;
      }
      n = fed;
    } else {
      n = chunk.length;
    }
    if (n < chunk.length) this.spoiled = true;
    if (n > 0) {
      this.responseBytes += n;
      // Bytes on their way to the client count as the connection's activity, as Node's socket timeout has it.
      this.conn.active = true;
      if (!this.conn.out.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        this.waitingForClient = true;
        this.upstream!.socket.pause();
        this.conn.out.once('drain', this.onClientDrain);
      }
    }
    if ((res.framing === 'length' && this.responseLeft === 0) || this.chunked?.done === true) this.complete();
  }

  upstreamEnded(): void {
    if (this.phase === BODY && this.response!.framing === 'close') this.complete();
    else this.upstreamClosed();
  }

  upstreamClosed(): void {
    if (this.phase === HEAD)
      this.fail(new UpstreamFailure('the upstream closed the connection before answering'));
    else this.cut(new UpstreamFailure('the upstream closed the connection mid-answer'));
  }

  private timedOut(): void {
    if (this.phase === HEAD) this.fail(new UpstreamFailure('the upstream did not answer in time', true));
    else this.cut(new UpstreamFailure('the upstream went silent mid-answer', true));
  }

  private requestTimedOut(): void {
    const started = this.response !== undefined;
    this.finish({ status: 408, responseBytes: this.responseBytes });
    this.conn.abandon();
    if (started) this.conn.out.destroy();
    else
      rawReply(
        this.conn.out,
        '408 Request Timeout',
        'ROAM_ERR_BAD_REQUEST',
        'the request did not arrive in time',
      );
  }

  clientEnded(): void {
    // A client that stops sending before its body is complete has given up on the request.
    if (this.bodyLeft > 0) this.conn.out.destroy();
  }

  clientClosed(): void {
    if (this.phase === DONE) return;
    this.finish({ status: this.response?.status ?? 499, responseBytes: this.responseBytes });
  }

  /** The answer is complete. */
  private complete(): void {
    const res = this.response!;
    const reusable = !this.spoiled && !res.close && this.bodyLeft === 0;
    this.finish({ status: res.status, responseBytes: this.responseBytes }, reusable ? res : undefined);
    this.conn.finished(!this.closeClient);
  }

  /** The upstream failed before an answer started: a retry on a fresh connection, or an error answer. */
  private fail(err: UpstreamFailure): void {
    if (this.phase === DONE) return;
    const up = this.upstream;
    if (up?.reused && !err.timedOut && this.contentLength === 0 && !this.retried) {
      // The service closed an idle keep-alive connection as the request went out: nothing reached it.
      this.detach(undefined);
      this.retried = true;
      this.responseHead = undefined;
      this.send();
      return;
    }
    const error = this.finish({ status: 0, responseBytes: 0, error: err, timedOut: err.timedOut });
    this.conn.abandon();
    const out = this.conn.out;
    if (error === undefined) out.destroy();
    else rawReply(out, `${error.status} ${STATUS_CODES[error.status] ?? ''}`, error.code, error.message);
  }

  /** The upstream failed mid-answer: the only honest signal left is to cut the client's connection. */
  private cut(err: UpstreamFailure): void {
    if (this.phase === DONE) return;
    this.finish({
      status: this.response!.status,
      responseBytes: this.responseBytes,
      error: err,
      timedOut: err.timedOut,
    });
    this.conn.abandon();
    this.conn.out.destroy();
  }

  /** Ends the exchange once: the upstream connection goes back to the pool (`reuse`) or is closed. */
  private finish(result: ForwardResult, reuse?: ResponseHead): RoamError | undefined {
    this.phase = DONE;
    this.conn.out.off('drain', this.onClientDrain);
    this.detach(reuse);
    return this.ex.end(result);
  }

  private detach(reuse: ResponseHead | undefined): void {
    const up = this.upstream;
    if (up === undefined) return;
    this.upstream = undefined;
    if (reuse !== undefined) this.fp.pool.release(up, reuse.keepAliveSeconds);
    else this.fp.pool.discard(up);
  }
}
