// The inbound listener: one port for HTTP/1.1 and HTTP/2 cleartext (prior knowledge, as gRPC clients speak
// it), and mesh TLS from other nodes (core/mesh-tls.ts). The first bytes of a connection decide: a TLS
// handshake is mesh traffic, the HTTP/2 preface goes to the HTTP/2 server, anything else to the HTTP/1.1
// server. Every socket has its errors handled from its first moment, and every phase of a
// connection is bounded (first byte, preface, head, whole request, idle), so no client can hold the proxy.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, {
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { answerClientError, rawReply } from '../core/http.ts';
import { isMeshTls, MeshTlsAcceptor } from '../core/mesh-tls.ts';
import type { FastPassthrough } from './fast-passthrough.ts';
import { isHttp2 } from './request-target.ts';

export interface ListenerOptions {
  /** Largest request head (request line + headers) accepted; larger ones get 431. */
  maxHeaderSize: number;
  /** Time a client has to send the whole request head. */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /**
   * A connection (HTTP/1.1) or stream (HTTP/2) with a request in progress that moves no byte either way for
   * this long is cut: a client that stops reading its answer, or stops sending its body, frees what it held.
   */
  idleTimeoutMs: number;
  /** Inbound connections open at once; more are refused as they arrive. */
  maxConnections: number;
  /** HTTP/2 streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams: number;
}

export type RequestHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

// An HTTP/2 connection (prior knowledge) opens with a preface whose first line is this (RFC 9113 3.4); no
// HTTP/1.1 request starts so. A preface broken after it is HTTP/2's to refuse (GOAWAY), not a 400 in HTTP/1.1.
const PREFACE = Buffer.from('PRI * HTTP/2.0');

/** The client's address of an HTTP/2 session: its socket is a stream we made, which carries none. */
const sessionAddresses = new WeakMap<Http2Session, string>();

/** Who sent `req`: the peer address of its connection, over HTTP/1.1 and HTTP/2 alike. */
export function clientAddress(req: IncomingMessage | Http2ServerRequest): string | undefined {
  if (!isHttp2(req)) return req.socket.remoteAddress;
  const session = req.stream.session;
  return session === undefined ? undefined : sessionAddresses.get(session);
}

/**
 * Hands a socket whose first chunk was already read to the HTTP/2 server. Node's HTTP/2 session reads from
 * the socket's native handle, which would skip the chunk we read, so it gets a stream that replays it first.
 */
function replaying(socket: Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk, encoding, cb) {
      socket.write(chunk, encoding, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  Object.assign(d, {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
    setNoDelay: () => d,
    setKeepAlive: () => d,
    setTimeout: (ms: number, cb?: () => void) => {
      socket.setTimeout(ms, cb);
      return d;
    },
  });
  d.push(first);
  socket.on('data', (chunk: Buffer) => {
    if (!d.push(chunk)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  // A reset or any socket error ends the session as a close would: the error has nowhere useful to go.
  socket.on('close', () => d.destroy());
  d.on('error', () => d.destroy());
  return d;
}

export class Listener {
  readonly h1: http.Server;
  readonly h2: http2.Http2Server;
  private readonly tcp: net.Server;
  private readonly sessions = new Set<Http2Session>();
  private readonly sockets = new Set<Socket>();
  /** Set while an HTTP/2 connection is handed over: its 'session' event fires synchronously within. */
  private nextSessionAddress: string | undefined;
  /** Takes HTTP/1.1 connections first when set; what it declines reaches `h1` through toHttp1Server. */
  private fastPath: FastPassthrough | undefined;
  /** Mesh TLS from other nodes, when this process holds a mesh identity. */
  private readonly meshTls: MeshTlsAcceptor;

  constructor(options: ListenerOptions, onRequest: RequestHandler, onUpgrade: UpgradeHandler) {
    this.meshTls = new MeshTlsAcceptor(options.headersTimeoutMs, (t) => this.toHttp1Server(t, undefined));
    this.h1 = http.createServer(
      {
        maxHeaderSize: options.maxHeaderSize,
        headersTimeout: options.headersTimeoutMs,
        requestTimeout: options.requestTimeoutMs,
        keepAliveTimeout: options.keepAliveTimeoutMs,
        // How often Node checks the two timeouts above; its 30 s default would let a slow client sit far
        // past them.
        connectionsCheckingInterval: Math.max(
          100,
          Math.min(options.headersTimeoutMs, options.requestTimeoutMs) / 4,
        ),
        // Strict parsing: conflicting Content-Length and Transfer-Encoding, bad chunking, bare LFs are 400s.
        insecureHTTPParser: false,
        // A missing Host is checked where requests are read, to answer with Roam's reason like other 400s.
        requireHostHeader: false,
      },
      onRequest,
    );
    // Socket inactivity while a request is in progress (between requests, keepAliveTimeout applies).
    this.h1.setTimeout(options.idleTimeoutMs);
    this.h1.on('upgrade', onUpgrade);
    // This server never listens itself (connections reach it from the sniffer below), but Node starts the
    // timer that enforces headersTimeout and requestTimeout on 'listening'.
    this.h1.emit('listening');
    this.h1.on('clientError', answerClientError);
    // This sidecar fronts one service; it is not a forward proxy.
    this.h1.on('connect', (_req: IncomingMessage, socket: Duplex) =>
      rawReply(socket, '400 Bad Request', 'ROAM_ERR_BAD_REQUEST', 'CONNECT is not supported by this proxy'),
    );
    this.h2 = http2.createServer(
      {
        settings: {
          maxHeaderListSize: options.maxHeaderSize,
          maxConcurrentStreams: options.maxConcurrentStreams,
        },
      },
      onRequest,
    );
    this.h2.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      if (this.nextSessionAddress !== undefined) sessionAddresses.set(session, this.nextSessionAddress);
      // A client that sends the preface and then nothing (no SETTINGS) is not holding a connection for long.
      const preface = setTimeout(() => session.destroy(), options.headersTimeoutMs);
      session.once('remoteSettings', () => clearTimeout(preface));
      // An idle session (no stream open) is closed with GOAWAY after the keep-alive timeout.
      let open = 0;
      session.on('stream', (stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        open++;
        // gRPC streams may rightly be quiet for long (a server stream waiting for events): grpc-timeout and
        // the HTTP/2 windows bound them instead.
        if (!String(headers['content-type'] ?? '').startsWith('application/grpc'))
          stream.setTimeout(options.idleTimeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
        stream.once('close', () => open--);
      });
      session.setTimeout(options.keepAliveTimeoutMs, () => {
        if (open === 0) session.close();
      });
      session.on('error', () => session.destroy());
      session.once('close', () => {
        clearTimeout(preface);
        this.sessions.delete(session);
      });
    });
    // Half-open as Node's own HTTP server makes its sockets: the HTTP server decides what a client's FIN means
    // (it aborts the request in progress: a client that ends its side is taken to have gone away).
    this.tcp = net.createServer({ allowHalfOpen: true }, (socket) => {
      // Errors first: a connection reset before its first byte (load balancers' TCP health checks close that
      // way) must not become an uncaught exception.
      socket.on('error', () => socket.destroy());
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.setNoDelay(true);
      // A connection that never sends its first byte is closed after the header timeout.
      const silent = () => socket.destroy();
      socket.setTimeout(options.headersTimeoutMs, silent);
      // Its first bytes decide, however they are split into segments: the HTTP/2 preface's first line, or
      // HTTP/1.1 as soon as they differ from it (an HTTP/1.1 method named PRI included).
      let head: Buffer = Buffer.alloc(0);
      const sniff = (chunk: Buffer) => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const n = Math.min(head.length, PREFACE.length);
        const h2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
        if (h2 && head.length < PREFACE.length) return;
        socket.off('data', sniff);
        socket.off('end', silent);
        socket.off('timeout', silent);
        socket.setTimeout(0);
        socket.pause();
        if (isMeshTls(head)) {
          // Another mesh node (mutual TLS, HTTP/1.1 inside): the mesh paths, checked per request.
          this.meshTls.accept(socket, head);
        } else if (h2) {
          this.nextSessionAddress = socket.remoteAddress;
          this.h2.emit('connection', replaying(socket, head));
          this.nextSessionAddress = undefined;
        } else if (this.fastPath) {
          socket.resume();
          this.fastPath.accept(socket, head);
        } else {
          this.toHttp1Server(socket, head);
        }
      };
      socket.on('data', sniff);
      // A client that ends its side before a request could even start has nothing to be answered.
      socket.once('end', silent);
    });
    this.tcp.maxConnections = options.maxConnections;
  }

  /** Passthrough fast path for HTTP/1.1 connections (see fast-passthrough.ts). */
  useFastPath(fastPath: FastPassthrough): void {
    this.fastPath = fastPath;
  }

  /** Gives a connection to Node's HTTP/1.1 server, bytes already read from it first. */
  toHttp1Server(socket: Socket, buffered: Buffer | undefined): void {
    if (buffered !== undefined && buffered.length > 0) socket.unshift(buffered);
    this.h1.emit('connection', socket);
    socket.resume();
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.tcp.once('error', reject);
      this.tcp.listen(port, host, () => resolve(this.tcp.address() as AddressInfo));
    });
  }

  /** Stops accepting; HTTP/1 idle connections close now, busy ones after their response; HTTP/2 gets GOAWAY. */
  stopAccepting(): void {
    this.tcp.close();
    this.h1.closeIdleConnections();
    this.fastPath?.closeIdle();
    for (const s of this.sessions) s.close();
  }

  /** Resolves once every connection has closed on its own (HTTP/2 sessions after GOAWAY), or after `ms`. */
  async settled(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.sockets.size > 0 && Date.now() < until) {
      this.h1.closeIdleConnections();
      this.fastPath?.closeIdle();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Ends whatever is still open (after the drain timeout). */
  destroyAll(): void {
    this.fastPath?.stop();
    this.h1.closeAllConnections();
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }
}
