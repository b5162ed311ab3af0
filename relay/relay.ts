// The relay: one loopback listener per route (a source site and a destination address); each connection it
// accepts is forwarded to the destination through two delay lines that apply the route's link. Connections
// on links between the same two sites share that link's bandwidth, per direction.
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseHostPort } from '../core/http.ts';
import { DelayLine, type Direction } from './delay-line.ts';
import { TokenBucket } from './token-bucket.ts';
import type { Link } from './topology.ts';

export interface RelayRoute {
  /** The site the connecting processes are at. */
  from: string;
  /** The destination's site. */
  to: string;
  /** Where connections go, "HOST:PORT". */
  target: string;
  /** Where the relay listens for them, "HOST:PORT" (port 0: any free port). */
  listen: string;
  link: Link;
}

/** Linux never retransmits sooner than this after a loss it had no duplicate ACKs for. */
const MIN_RTO_MS = 200;

/** The retransmission timeout a lost segment costs on a link: RTT + 4 x its variation, at least 200 ms. */
export function retransmissionTimeout(link: Link): number {
  return Math.max(MIN_RTO_MS, link.rttMs + 4 * link.jitterMs);
}

export class Relay {
  private readonly routes: RelayRoute[];
  private readonly random: () => number;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(routes: RelayRoute[], options: { random?: () => number } = {}) {
    this.routes = routes;
    this.random = options.random ?? Math.random;
  }

  /** Opens every route's listener; answers the routes with the addresses they got. */
  async start(): Promise<RelayRoute[]> {
    const bound: RelayRoute[] = [];
    try {
      for (const route of this.routes) {
        const { host, port } = parseHostPort(route.listen, 'route listen');
        parseHostPort(route.target, 'route target');
        const server = createServer({ allowHalfOpen: true }, (client) => this.forward(route, client));
        this.servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, host, () => resolve());
        });
        const addr = server.address() as { port: number };
        bound.push({ ...route, listen: `${host}:${addr.port}` });
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    return bound;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.servers.length = 0;
  }

  private direction(from: string, to: string, link: Link): Direction {
    const key = `${from}>${to}`;
    let bucket = this.buckets.get(key) ?? null;
    if (bucket === null && link.bandwidthMbps !== null) {
      bucket = new TokenBucket(link.bandwidthMbps);
      this.buckets.set(key, bucket);
    }
    return {
      oneWayMs: link.rttMs / 2,
      jitterMs: link.jitterMs / 2,
      loss: link.loss,
      rtoMs: retransmissionTimeout(link),
      bucket,
      random: this.random,
    };
  }

  private forward(route: RelayRoute, client: Socket): void {
    const { host, port } = parseHostPort(route.target, 'route target');
    const server = netConnect({ host, port, allowHalfOpen: true });
    for (const s of [client, server]) {
      s.setNoDelay(true);
      this.sockets.add(s);
    }
    // The client's connect returned at once on loopback; over the link it would have taken a round trip (SYN,
    // SYN-ACK), so its first bytes arrive no sooner than that round trip plus their own one-way trip.
    const up = new DelayLine(
      client,
      server,
      this.direction(route.from, route.to, route.link),
      performance.now() + 1.5 * route.link.rttMs,
    );
    const down = new DelayLine(server, client, this.direction(route.to, route.from, route.link));
    const fail = () => {
      up.stop();
      down.stop();
      client.destroy();
      server.destroy();
    };
    client.on('error', fail);
    server.on('error', fail);
    // A side that closed cleanly takes no more bytes; what it sent before closing still goes out.
    client.on('close', (hadError) => {
      this.sockets.delete(client);
      down.stop();
      if (hadError) fail();
    });
    server.on('close', (hadError) => {
      this.sockets.delete(server);
      up.stop();
      if (hadError) fail();
    });
  }
}
