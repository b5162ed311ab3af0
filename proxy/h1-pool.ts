// Keep-alive connections to the upstream service for the passthrough fast path: raw TCP connections to where
// the network map says the service is (core/network.ts), reused most-recently-used first, at most `connections` open, and
// retired before the service's own keep-alive timeout closes them under a request. Each connection's
// listeners are set once for its life and speak to whichever exchange uses it now, so handing a connection
// from one request to the next costs no listener or timer churn.
import net, { type Socket } from 'node:net';
import { resolveDestination } from '../core/network.ts';

/** The exchange using a connection hears its events through this. */
export interface UpstreamUser {
  upstreamData(chunk: Buffer): void;
  upstreamEnded(): void;
  upstreamClosed(): void;
  upstreamDrained(): void;
}

export class UpstreamConnection {
  readonly socket: Socket;
  user: UpstreamUser | undefined;
  /** It served an exchange before this one (a failure on it may be the service closing it while idle). */
  reused = false;
  discarded = false;
  /** While idle: when it is retired (performance.now() clock). */
  idleUntil = 0;

  constructor(socket: Socket, pool: RawPool) {
    this.socket = socket;
    // While idle, anything the connection hears (data, an end, a close) makes it unfit for a request.
    socket.on('data', (chunk: Buffer) => (this.user ? this.user.upstreamData(chunk) : pool.discard(this)));
    socket.on('end', () => (this.user ? this.user.upstreamEnded() : pool.discard(this)));
    socket.on('close', () => (this.user ? this.user.upstreamClosed() : pool.discard(this)));
    socket.on('drain', () => this.user?.upstreamDrained());
    // Errors reach the user as the 'close' that follows them.
    socket.on('error', () => {});
  }
}

export type Acquired = (err: Error | undefined, conn: UpstreamConnection | undefined) => void;

export interface RawPoolOptions {
  /** Most connections open at once; callers past it wait their turn in order. */
  connections: number;
  /** How long an idle connection is kept when the service does not say (Keep-Alive: timeout=N). */
  keepAliveMs: number;
}

// A connection is retired this long before the service's announced keep-alive timeout, so a request is never
// written to a socket the service is closing (undici keeps the same margin).
const KEEP_ALIVE_MARGIN_MS = 1000;
// How often idle connections are checked for retirement.
const SWEEP_MS = 500;
// A service that does not accept a connection in this long is taken to be down (undici's default too).
const CONNECT_TIMEOUT_MS = 10_000;

export class RawPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiting: Acquired[] = [];
  private readonly hostname: string;
  private readonly port: number;
  private readonly options: RawPoolOptions;
  private readonly sweeper: NodeJS.Timeout;
  private open = 0;
  private closed = false;

  constructor(origin: string, options: RawPoolOptions) {
    const url = new URL(origin);
    this.hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(url.port || 80);
    this.options = options;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** Connections open now (busy, idle and connecting). */
  get size(): number {
    return this.open;
  }

  /** Calls back with an idle connection, a new one (`fresh` asks for that), or the next one freed. */
  acquire(cb: Acquired, fresh = false): void {
    if (this.closed) {
      cb(new Error('the upstream pool is closed'), undefined);
      return;
    }
    const conn = fresh ? undefined : this.idle.pop();
    if (conn !== undefined) cb(undefined, conn);
    else if (this.open < this.options.connections) this.dial(cb);
    else this.waiting.push(cb);
  }

  /** Gives back a connection that finished an exchange cleanly; `keepAliveSeconds` is the service's hint. */
  release(conn: UpstreamConnection, keepAliveSeconds: number | undefined): void {
    conn.user = undefined;
    conn.reused = true;
    const ms =
      keepAliveSeconds === undefined
        ? this.options.keepAliveMs
        : Math.min(this.options.keepAliveMs, keepAliveSeconds * 1000 - KEEP_ALIVE_MARGIN_MS);
    if (this.closed || ms <= 0 || conn.socket.destroyed) {
      this.discard(conn);
      return;
    }
    if (conn.socket.isPaused()) conn.socket.resume();
    const next = this.waiting.shift();
    if (next !== undefined) {
      next(undefined, conn);
      return;
    }
    conn.idleUntil = performance.now() + ms;
    this.idle.push(conn);
  }

  /** Closes a connection that cannot be reused, and lets the next waiter have its place. */
  discard(conn: UpstreamConnection): void {
    if (conn.discarded) return;
    conn.discarded = true;
    conn.user = undefined;
    conn.socket.destroy();
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    this.open--;
    const next = this.waiting.shift();
    if (next !== undefined) this.dial(next);
  }

  destroy(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const conn of [...this.idle]) this.discard(conn);
    for (const cb of this.waiting.splice(0)) cb(new Error('the upstream pool is closed'), undefined);
  }

  private sweep(): void {
    const now = performance.now();
    for (const conn of this.idle.filter((c) => c.idleUntil <= now)) this.discard(conn);
  }

  private dial(cb: Acquired): void {
    this.open++;
    const to = resolveDestination(this.hostname, this.port);
    const socket = net.connect({ host: to.hostname, port: to.port, noDelay: true });
    const failed = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      this.open--;
      const next = this.waiting.shift();
      if (next !== undefined) this.dial(next);
      cb(err, undefined);
    };
    const timer = setTimeout(
      () =>
        failed(new Error(`connect to ${to.hostname}:${to.port} timed out after ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    socket.once('error', failed);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      const conn = new UpstreamConnection(socket, this);
      if (this.closed) {
        this.discard(conn);
        cb(new Error('the upstream pool is closed'), undefined);
        return;
      }
      cb(undefined, conn);
    });
  }
}
