// The service this sidecar fronts: raw keep-alive connections for the HTTP/1.1 passthrough fast path, an
// undici pool for every other HTTP/1.1 request (the slow path, upgrades, endpoints that still live in the
// service), and HTTP/2 cleartext for gRPC, which needs HTTP/2 end to end.
import type { Http2ServerResponse } from 'node:http2';
import type { Pool } from 'undici';
import { networkConnector } from '../core/network.ts';
import { undici } from '../core/undici.ts';
import { RawPool } from './h1-pool.ts';
import { H2Upstream } from './h2-upstream.ts';
import {
  type ForwardOptions,
  type ForwardResult,
  forward,
  type InboundRequest,
  type InboundResponse,
} from './passthrough.ts';
import { isHttp2 } from './request-target.ts';

export type { ForwardOptions } from './passthrough.ts';

/** Idle connections to the service are closed after this long, on both legs. */
const KEEP_ALIVE_MS = 30_000;

export interface UpstreamOptions {
  /** Most connections the HTTP/1.1 pool opens to the service. */
  connections: number;
  /** Time the service has to start answering an ordinary (non-gRPC) request; 504 after. Default 60 s. */
  headersTimeoutMs?: number;
  /** Longest silence within an ordinary answer's body; the connection is cut after. Default 60 s. */
  bodyTimeoutMs?: number;
}

export class Upstream {
  readonly url: string;
  private undiciPool: Pool | undefined;
  private readonly connections: number;
  /** Raw HTTP/1.1 connections for the passthrough fast path (fast-passthrough.ts). */
  readonly raw: RawPool;
  /**
   * gRPC's leg, on node:http2: undici's HTTP/2 client drops response DATA still buffered in a paused stream
   * when the trailers arrive (the proxy pauses it whenever its client reads slower than the service writes).
   */
  private readonly h2: H2Upstream;
  private readonly headersTimeoutMs: number;
  private readonly bodyTimeoutMs: number;

  constructor(url: string, options: UpstreamOptions) {
    this.url = url;
    this.connections = options.connections;
    this.raw = new RawPool(url, { connections: options.connections, keepAliveMs: KEEP_ALIVE_MS });
    this.h2 = new H2Upstream(url, KEEP_ALIVE_MS);
    this.headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? 60_000;
  }

  /** The undici keep-alive pool for HTTP/1.1 beyond the fast path, made (and undici loaded) on first use. */
  get pool(): Pool {
    this.undiciPool ??= new (undici().Pool)(this.url, {
      connections: this.connections,
      pipelining: 1,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connect: networkConnector(),
    });
    return this.undiciPool;
  }

  /**
   * Streams `req` to the service and its answer back into `res`; resolves when the exchange is over. gRPC has
   * no head or idle timeout (long-lived streams are legitimate): its own grpc-timeout bounds a call.
   */
  forward(req: InboundRequest, res: InboundResponse, options: ForwardOptions = {}): Promise<ForwardResult> {
    if (isHttp2(req) && req.headers['content-type']?.startsWith('application/grpc') === true)
      return this.h2.forward(req, res as Http2ServerResponse, options);
    return forward(this.pool, req, res, {
      ...options,
      headersTimeoutMs: this.headersTimeoutMs,
      bodyTimeoutMs: this.bodyTimeoutMs,
    });
  }

  /** Cuts every connection (after a drain). */
  async destroy(): Promise<void> {
    this.raw.destroy();
    await Promise.all([this.undiciPool?.destroy(), this.h2.destroy()]);
  }
}
