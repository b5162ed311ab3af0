// The HTTP/2 leg to the upstream service, for gRPC: each inbound HTTP/2 stream becomes one stream on a shared
// h2c session to the service, and what HTTP/2 says about it crosses both ways (see Exchange).
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import net from 'node:net';
import { resolveDestination } from '../core/network.ts';
import { forwardRequestHeaders } from './headers.ts';
import type { ForwardOptions, ForwardResult } from './passthrough.ts';

const {
  NGHTTP2_CANCEL,
  NGHTTP2_FLAG_END_STREAM,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
} = http2.constants;
const HEADERS_FRAME = 1;
const MAX_STREAM_ID = 2 ** 31 - 1;
/** Longer timers overflow in Node (and fire at once); a deadline that far away is no deadline. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Request bytes kept per call, until the answer starts, so a call the service refused unprocessed (GOAWAY,
 * REFUSED_STREAM) can be sent again; and over all calls at once. gRPC's own retry buffer defaults.
 */
const REPLAY_PER_CALL = 256 * 1024;
const REPLAY_TOTAL = 16 * 1024 * 1024;
/**
 * RST_STREAMs one session may send before new calls move to a fresh one. Servers on nghttp2 (Node's, grpc-js)
 * end a connection that resets more than a burst of ~1000 streams (Rapid Reset, CVE-2023-44487) with every call
 * on it; the proxy's one session carries the cancellations of all its clients, so it stays well below.
 */
const RESETS_PER_SESSION = 500;

/** Answers carry the upstream's Date header, or none: the proxy adds none (a respond() option @types/node omits). */
const NO_DATE = { sendDate: false } as http2.ServerStreamResponseOptions;

const GRPC_TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/** The deadline a `grpc-timeout` header asks for (gRPC over HTTP/2: 1-8 digits and a unit), in ms. */
function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  const m = typeof value === 'string' ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  return m ? Number(m[1]) * GRPC_TIMEOUT_UNIT_MS[m[2]!]! : undefined;
}

/** One h2c session to the service, and what the exchanges on it need to know about it. */
class Connection {
  readonly session: ClientHttp2Session;
  /** The highest stream id the service said it may have processed (its GOAWAY); later ones never ran. */
  lastStreamId = MAX_STREAM_ID;
  connected = false;
  private open = 0;
  private resets = 0;
  private idle: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(url: string, idleMs: number) {
    this.idleMs = idleMs;
    const u = new URL(url);
    // Through the network map, like every connection Roam makes; :authority stays what the client asked for.
    const to = resolveDestination(u.hostname.replace(/^\[(.*)\]$/, '$1'), Number(u.port) || 80);
    const options: http2.ClientSessionOptions & { strictSingleValueFields: boolean } = {
      createConnection: () => net.connect({ host: to.hostname, port: to.port, noDelay: true }),
      settings: { enablePush: false },
      // Headers cross as the client sent them, repeated single-value fields included (Node takes this option
      // on clients too; @types/node lists it for servers only).
      strictSingleValueFields: false,
    };
    this.session = http2.connect(url, options);
    this.session.once('connect', () => {
      this.connected = true;
    });
    this.session.on('goaway', (_code: number, lastStreamId: number) => {
      this.lastStreamId = Math.min(this.lastStreamId, lastStreamId);
    });
    // Each stream on the session learns of the failure itself (and its exchange decides); nothing to add here.
    this.session.on('error', () => {});
    this.session.once('close', () => clearTimeout(this.idle));
  }

  /** Whether new streams may start here: not closing, and not told by a GOAWAY to go elsewhere. */
  get usable(): boolean {
    return !this.session.closed && !this.session.destroyed && this.lastStreamId === MAX_STREAM_ID;
  }

  /** Resets `stream` with `code`; past RESETS_PER_SESSION the session takes no new streams and closes once idle. */
  reset(stream: ClientHttp2Stream, code: number): void {
    stream.close(code);
    if (++this.resets === RESETS_PER_SESSION) this.session.close();
  }

  streamOpened(): void {
    this.open++;
    clearTimeout(this.idle);
  }

  /** An idle session is closed (GOAWAY) after idleMs, as the HTTP/1.1 pool's keep-alive does. */
  streamClosed(): void {
    if (--this.open === 0 && !this.session.closed) {
      this.idle = setTimeout(() => this.session.close(), this.idleMs).unref();
    }
  }
}

export class H2Upstream {
  private readonly url: string;
  private readonly idleMs: number;
  private current: Connection | undefined;
  private readonly connections = new Set<Connection>();
  private replayBytes = 0;

  constructor(url: string, idleMs: number) {
    this.url = url;
    this.idleMs = idleMs;
  }

  /** The session new streams go to: the current one unless it is closing or was told to go away. */
  connection(): Connection {
    if (this.current?.usable) return this.current;
    const c = new Connection(this.url, this.idleMs);
    this.connections.add(c);
    c.session.once('close', () => this.connections.delete(c));
    this.current = c;
    return c;
  }

  /** Takes `n` bytes of the replay budget shared by all calls; false when it is spent. */
  reserveReplay(n: number): boolean {
    if (this.replayBytes + n > REPLAY_TOTAL) return false;
    this.replayBytes += n;
    return true;
  }

  releaseReplay(n: number): void {
    this.replayBytes -= n;
  }

  /** Forwards one gRPC (HTTP/2) request; resolves when the client's stream has closed, or at once with `error`. */
  forward(
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    options: ForwardOptions,
  ): Promise<ForwardResult> {
    return new Promise((resolve) => new Exchange(this, req, res, options, resolve).start());
  }

  async destroy(): Promise<void> {
    await Promise.all(
      [...this.connections].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.session.destroyed) return resolve();
            c.session.once('close', resolve);
            c.session.destroy();
          }),
      ),
    );
  }
}

/**
 * One inbound stream and its upstream attempt(s). Both bodies are relayed chunk by chunk with flow control
 * (a write that returns false pauses the other side until 'drain', so HTTP/2 windows close instead of
 * buffers growing), trailers cross both ways, a trailers-only answer stays one HEADERS frame, RST_STREAM
 * codes cross both ways, a stream the service refused unprocessed is sent again once (or refused to the
 * client, who may retry), and grpc-timeout ends the call with DEADLINE_EXCEEDED.
 */
class Exchange {
  private readonly h2: H2Upstream;
  private readonly inbound: ServerHttp2Stream;
  private readonly res: Http2ServerResponse;
  private readonly headers: OutgoingHttpHeaders;
  /** The request had no body (END_STREAM on its HEADERS). */
  private readonly bodiless: boolean;
  private readonly deadlineMs: number | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly resolve: (result: ForwardResult) => void;
  private up: ClientHttp2Stream | undefined;
  /** The session `up` is on. */
  private conn: Connection | undefined;
  private upError: Error | undefined;
  /** The attempt's HEADERS never left (nghttp2 refused to send them after a GOAWAY). */
  private headersUnsent = false;
  /** Request bytes sent so far, while the call may still be replayed; undefined once it cannot be. */
  private replay: Buffer[] | undefined = [];
  private replaySize = 0;
  private replayed = false;
  private requestEnded = false;
  private requestTrailers: IncomingHttpHeaders | undefined;
  private responseTrailers: IncomingHttpHeaders | undefined;
  private responseStarted = false;
  private trailersOnly = false;
  /** The upstream's answer arrived whole. */
  private responseEnded = false;
  private status = 0;
  private responseBytes = 0;
  private timedOut = false;
  private timer: NodeJS.Timeout | undefined;
  private settled = false;

  constructor(
    h2: H2Upstream,
    req: Http2ServerRequest,
    res: Http2ServerResponse,
    options: ForwardOptions,
    resolve: (result: ForwardResult) => void,
  ) {
    this.h2 = h2;
    this.inbound = req.stream;
    this.res = res;
    this.bodiless = req.stream.endAfterHeaders;
    this.deadlineMs = grpcTimeoutMs(req.headers['grpc-timeout']);
    this.signal = options.signal;
    this.resolve = resolve;
    this.headers = {
      ':method': req.method,
      ':path': req.url,
      ':scheme': 'http',
      ':authority': req.headers[':authority'] ?? req.headers.host,
    };
    const list = forwardRequestHeaders(
      req.rawHeaders,
      options.clientAddress ?? req.socket?.remoteAddress,
      'http',
      options.traceparent,
    );
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!;
      const prev = this.headers[name];
      this.headers[name] =
        prev === undefined
          ? list[i + 1]!
          : Array.isArray(prev)
            ? [...prev, list[i + 1]!]
            : [String(prev), list[i + 1]!];
    }
  }

  start(): void {
    const inbound = this.inbound;
    if (inbound.closed) {
      this.finish({ status: 499, responseBytes: 0 });
      return;
    }
    if (this.signal?.aborted) {
      this.fail(abortReason(this.signal));
      return;
    }
    inbound.on('data', (chunk: Buffer) => this.onRequestData(chunk));
    inbound.on('trailers', (trailers: IncomingHttpHeaders) => {
      this.requestTrailers = trailers;
    });
    inbound.on('end', () => {
      this.requestEnded = true;
      if (this.up?.writable) this.up.end();
    });
    inbound.on('drain', () => this.up?.resume());
    inbound.once('close', () => this.onInboundClose());
    if (this.deadlineMs !== undefined && this.deadlineMs <= MAX_TIMER_MS)
      this.timer = setTimeout(() => this.onDeadline(), this.deadlineMs);
    this.signal?.addEventListener('abort', this.onAbort);
    this.attempt();
  }

  private attempt(): void {
    const conn = this.h2.connection();
    let up: ClientHttp2Stream;
    try {
      up = conn.session.request(this.headers, { endStream: this.bodiless, waitForTrailers: !this.bodiless });
    } catch (err) {
      // Headers the upstream session will not send (Node validates them): nothing was sent, a local reply.
      this.fail(err as Error);
      return;
    }
    conn.streamOpened();
    this.up = up;
    this.conn = conn;
    this.upError = undefined;
    this.headersUnsent = false;
    up.on('response', (headers: IncomingHttpHeaders, flags: number) => this.onResponse(up, headers, flags));
    up.on('data', (chunk: Buffer) => this.onResponseData(up, chunk));
    up.on('trailers', (trailers: IncomingHttpHeaders) => {
      // Node emits this when the frame arrives, possibly before earlier DATA was read: kept for the end.
      if (up === this.up) this.responseTrailers = trailers;
    });
    up.on('end', () => this.onResponseEnd(up));
    up.on('wantTrailers', () => up.sendTrailers(withoutPseudo(this.requestTrailers)));
    up.on('drain', () => {
      if (up === this.up) this.inbound.resume();
    });
    up.on('frameError', (type: number) => {
      if (type === HEADERS_FRAME && up === this.up) this.headersUnsent = true;
    });
    // The outcome is read on 'close' (rstCode, the session's state); the error only names it.
    up.on('error', (err: Error) => {
      if (up === this.up) this.upError = err;
    });
    up.once('close', () => {
      conn.streamClosed();
      this.onUpstreamClose(up, conn);
    });
    if (this.replay === undefined || this.replay.length === 0) return;
    let flowing = true;
    for (const chunk of this.replay) flowing = up.write(chunk);
    if (this.requestEnded) up.end();
    else if (flowing) this.inbound.resume();
  }

  private onRequestData(chunk: Buffer): void {
    if (this.replay !== undefined) {
      if (this.replaySize + chunk.length <= REPLAY_PER_CALL && this.h2.reserveReplay(chunk.length)) {
        this.replay.push(chunk);
        this.replaySize += chunk.length;
      } else {
        this.dropReplay();
      }
    }
    // With no attempt in progress (the answer is decided) the client's remaining bytes are read and dropped.
    const up = this.up;
    if (up?.writable && !up.write(chunk)) this.inbound.pause();
  }

  private onResponse(up: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    if (up !== this.up) return;
    this.responseStarted = true;
    this.dropReplay();
    this.status = Number(headers[':status']);
    if (this.inbound.closed || this.inbound.headersSent) return;
    const out: OutgoingHttpHeaders = { ...withoutPseudo(headers), ':status': this.status };
    // HEADERS with END_STREAM (gRPC's trailers-only errors) leave as one frame that ends the stream; otherwise
    // the stream waits for the upstream's trailers. The upstream's Date (if any) is passed, none added.
    this.trailersOnly = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    this.inbound.respond(out, {
      endStream: this.trailersOnly,
      waitForTrailers: !this.trailersOnly,
      ...NO_DATE,
    });
  }

  private onResponseData(up: ClientHttp2Stream, chunk: Buffer): void {
    this.responseBytes += chunk.length;
    if (up === this.up && !this.inbound.closed && !this.inbound.write(chunk)) up.pause();
  }

  private onResponseEnd(up: ClientHttp2Stream): void {
    // Node also ends the readable side of a stream it destroys after a reset: only END_STREAM counts. (A reset
    // with NO_ERROR before END_STREAM looks like an end in Node; RFC 9113 has it follow a complete answer.)
    if (up !== this.up || !this.responseStarted || up.rstCode !== NGHTTP2_NO_ERROR) return;
    this.responseEnded = true;
    // The whole answer is here: neither the deadline nor an abort may cut it short any more.
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    if (this.trailersOnly || this.inbound.closed || this.inbound.writableEnded) return;
    // Node's compatibility response answers the stream's 'wantTrailers' with its own trailer list; the
    // upstream's go there (an empty list ends the stream with an empty DATA frame).
    if (this.responseTrailers) this.res.addTrailers(withoutPseudo(this.responseTrailers));
    this.inbound.end();
  }

  private onUpstreamClose(up: ClientHttp2Stream, conn: Connection): void {
    if (up !== this.up) return;
    this.up = undefined;
    // Nothing goes upstream any more: what the client still sends is read and dropped, never left to block it.
    this.inbound.resume();
    if (this.responseEnded || this.settled) return;
    const code = up.rstCode;
    const broken = conn.session.destroyed;
    if (!this.responseStarted) {
      const refused =
        conn.connected &&
        (up.id === undefined ||
          up.id > conn.lastStreamId ||
          code === NGHTTP2_REFUSED_STREAM ||
          this.headersUnsent);
      if (refused) {
        // The service never processed this stream: send it again while the whole body is still at hand;
        // otherwise say so to the client (REFUSED_STREAM lets gRPC clients retry it transparently).
        if (this.replay !== undefined && !this.replayed) {
          this.replayed = true;
          this.attempt();
        } else {
          this.resetInbound(NGHTTP2_REFUSED_STREAM);
        }
        return;
      }
      if (broken) {
        this.fail(this.upError ?? new Error(`HTTP/2 connection to the upstream closed (code ${code})`));
        return;
      }
    }
    // The upstream reset the stream: the client's stream is reset with the same code; a connection that broke
    // mid-answer has no code of its own, INTERNAL_ERROR stands for it.
    this.resetInbound(broken ? NGHTTP2_INTERNAL_ERROR : code);
  }

  private onInboundClose(): void {
    const up = this.up;
    const code = this.inbound.rstCode;
    // The client reset the stream or went away before the answer was whole: the upstream stream stops too,
    // with the client's code.
    if (up && !up.destroyed && !(this.responseEnded && code === NGHTTP2_NO_ERROR)) {
      this.closeUpstream(code !== NGHTTP2_NO_ERROR ? code : NGHTTP2_CANCEL);
    }
    this.finish({
      status: this.status || 499,
      responseBytes: this.responseBytes,
      timedOut: this.timedOut || undefined,
    });
  }

  private onDeadline(): void {
    this.timedOut = true;
    this.closeUpstream(NGHTTP2_CANCEL);
    const inbound = this.inbound;
    if (inbound.closed) return;
    if (inbound.headersSent) {
      // Part of an answer is out and gRPC's status goes in trailers after whole messages only: cut the stream.
      inbound.close(NGHTTP2_CANCEL);
      return;
    }
    this.status = 200;
    inbound.respond(
      {
        ':status': 200,
        'content-type': this.headers['content-type'] ?? 'application/grpc',
        'grpc-status': '4',
        'grpc-message': 'Deadline Exceeded',
      },
      { endStream: true, ...NO_DATE },
    );
  }

  private readonly onAbort = (): void => {
    this.closeUpstream(NGHTTP2_CANCEL);
    if (this.inbound.closed) return;
    if (this.inbound.headersSent) this.inbound.close(NGHTTP2_CANCEL);
    else this.fail(abortReason(this.signal!));
  };

  /** Ends the attempt in progress (RST_STREAM with `code`); its 'close' is then no longer this exchange's. */
  private closeUpstream(code: number): void {
    const up = this.up;
    this.up = undefined;
    if (up && !up.destroyed) this.conn!.reset(up, code);
    this.inbound.resume();
  }

  private resetInbound(code: number): void {
    if (this.status === 0) this.status = 502;
    if (!this.inbound.closed) this.inbound.close(code);
  }

  /** Nothing was sent to the client: the caller answers with a local reply. */
  private fail(error: Error): void {
    this.closeUpstream(NGHTTP2_CANCEL);
    this.finish({ status: 0, responseBytes: 0, error });
  }

  private dropReplay(): void {
    if (this.replay === undefined) return;
    this.h2.releaseReplay(this.replaySize);
    this.replay = undefined;
    this.replaySize = 0;
  }

  private finish(result: ForwardResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    this.dropReplay();
    this.resolve(result);
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('forwarding aborted');
}

/** A header block without its pseudo-headers, for the other hop (which sets its own). */
function withoutPseudo(headers: IncomingHttpHeaders | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (name.charCodeAt(0) !== 58 /* ':' */) out[name] = headers[name];
  return out;
}
