// The service this sidecar fronts: an HTTP/1.1 pool for ordinary requests, upgrades and endpoints that still
// live in the service, and HTTP/2 cleartext for gRPC, which needs HTTP/2 end to end. Passthrough picks the
// leg per request; everything else uses the pool.
import { Client, Pool } from 'undici';
import { networkConnector } from '../core/network.ts';
import { type ForwardResult, forward, type InboundRequest, type InboundResponse } from './passthrough.ts';

export interface UpstreamOptions {
  /** Most connections the HTTP/1.1 pool opens to the service. */
  connections: number;
}

export interface ForwardOptions {
  /** The proxy's span, as the upstream's parent. */
  traceparent?: string;
}

export class Upstream {
  readonly url: string;
  /** HTTP/1.1 keep-alive pool. */
  readonly pool: Pool;
  /** One HTTP/2 client: HTTP/2 multiplexes streams over its connection (and undici's Pool drops the h2c option). */
  private readonly h2: Client;

  constructor(url: string, options: UpstreamOptions) {
    this.url = url;
    this.pool = new Pool(url, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: networkConnector(),
    });
    this.h2 = new Client(url, { allowH2: true, h2Options: { useH2c: true }, keepAliveTimeout: 30_000 });
  }

  /** Streams `req` to the service and its answer back into `res`; resolves when the exchange is over. */
  forward(req: InboundRequest, res: InboundResponse, options: ForwardOptions = {}): Promise<ForwardResult> {
    const grpc =
      req.httpVersionMajor === 2 && req.headers['content-type']?.startsWith('application/grpc') === true;
    return forward(grpc ? this.h2 : this.pool, req, res, options.traceparent);
  }

  /** Cuts every connection (after a drain). */
  async destroy(): Promise<void> {
    await Promise.all([this.pool.destroy(), this.h2.destroy()]);
  }
}
