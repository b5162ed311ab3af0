// The inbound listener: one port for HTTP/1.1 and HTTP/2 cleartext (prior knowledge, as gRPC clients speak
// it). The first bytes of a connection decide: the HTTP/2 preface goes to the HTTP/2 server, anything else to
// the HTTP/1.1 server. Slow clients are bounded by header and request timeouts.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Duplex } from 'node:stream';

export interface ListenerOptions {
  /** Largest request head (request line + headers) accepted; larger ones get 431. */
  maxHeaderSize: number;
  /** Time a client has to send the whole request head. */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export type RequestHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => void;

// An HTTP/2 connection's first bytes are "PRI * HTTP/2.0"; no HTTP/1 method starts with "PRI".
const PREFACE = Buffer.from('PRI');

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
  socket.on('close', () => d.destroy());
  socket.on('error', (err) => d.destroy(err));
  return d;
}

export class Listener {
  readonly h1: http.Server;
  readonly h2: http2.Http2Server;
  private readonly tcp: net.Server;
  private readonly sessions = new Set<Http2Session>();
  private readonly sockets = new Set<Socket>();

  constructor(options: ListenerOptions, onRequest: RequestHandler, onUpgrade: UpgradeHandler) {
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
      },
      onRequest,
    );
    this.h1.on('upgrade', onUpgrade);
    // This server never listens itself (connections reach it from the sniffer below), but Node starts the
    // timer that enforces headersTimeout and requestTimeout on 'listening'.
    this.h1.emit('listening');
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const status = tooLarge
        ? '431 Request Header Fields Too Large'
        : timeout
          ? '408 Request Timeout'
          : '400 Bad Request';
      const code = tooLarge ? 'ROAM_ERR_HEADERS_TOO_LARGE' : 'ROAM_ERR_BAD_REQUEST';
      const body = JSON.stringify({
        error: code,
        message: `malformed or oversize request (${err.code ?? err.message})`,
      });
      socket.end(
        `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\nx-roam-error: ${code}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
    this.h2 = http2.createServer({ settings: { maxHeaderListSize: options.maxHeaderSize } }, onRequest);
    this.h2.on('session', (session: Http2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
    this.tcp = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      socket.setNoDelay(true);
      // A connection that never sends its first byte is closed after the header timeout.
      socket.setTimeout(options.headersTimeoutMs, () => socket.destroy());
      socket.once('data', (chunk: Buffer) => {
        socket.setTimeout(0);
        socket.pause();
        if (chunk.subarray(0, 3).equals(PREFACE)) {
          this.h2.emit('connection', replaying(socket, chunk));
        } else {
          socket.unshift(chunk);
          this.h1.emit('connection', socket);
          socket.resume();
        }
      });
    });
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
    for (const s of this.sessions) s.close();
  }

  /** Resolves once every connection has closed on its own (HTTP/2 sessions after GOAWAY), or after `ms`. */
  async settled(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (this.sockets.size > 0 && Date.now() < until) {
      this.h1.closeIdleConnections();
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Ends whatever is still open (after the drain timeout). */
  destroyAll(): void {
    this.h1.closeAllConnections();
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
  }
}
