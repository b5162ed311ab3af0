// The proxy's admin listener: /healthz (the process is up), /readyz (routes applied, not draining), /config (the
// route table in force and its version), /stats (per endpoint and target), /metrics (Prometheus text).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NotFoundError } from '../core/errors.ts';
import type { Histogram } from '../core/histogram.ts';
import { closeServer, listenOn, sendError, sendJson } from '../core/http.ts';
import type { SidecarProxy } from './proxy.ts';

function quantiles(h: Histogram) {
  return { count: h.count, p50: h.quantile(0.5), p90: h.quantile(0.9), p99: h.quantile(0.99) };
}

export function proxyStats(proxy: SidecarProxy) {
  const now = Date.now();
  return {
    proxy: proxy.id,
    routeVersion: proxy.routeTable.version,
    memory: {
      heapUsedBytes: proxy.memory.last.used,
      heapLimitBytes: proxy.memory.last.limit,
      shedding: proxy.memory.shedding,
      shedRequests: proxy.memory.shed,
    },
    passthrough: {
      requests: proxy.passthroughStats.requests,
      errors: proxy.passthroughStats.errors,
      latencyMs: quantiles(proxy.passthroughStats.latency),
    },
    endpoints: Object.fromEntries(
      [...proxy.endpointStats].map(([name, s]) => [
        name,
        { requests: s.requests, errors: s.errors, byCode: s.byCode, latencyMs: quantiles(s.latency) },
      ]),
    ),
    targets: Object.fromEntries(
      proxy.targets.all().map((t) => [
        t.key,
        {
          requests: t.requests,
          errors: t.errors,
          pending: t.pending,
          ejected: t.ejected(now),
          ejections: t.ejections,
          latencyMs: quantiles(t.latency),
        },
      ]),
    ),
    host: proxy.host?.stats() ?? [],
  };
}

export class AdminServer {
  private readonly server: Server;

  constructor(proxy: SidecarProxy, metrics: (req: IncomingMessage, res: ServerResponse) => void) {
    this.server = createServer(async (req, res) => {
      try {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET') throw new NotFoundError(`no route for ${req.method} ${path}`);
        switch (path) {
          case '/healthz':
            return sendJson(res, 200, { status: 'ok' });
          case '/readyz':
            return proxy.isDraining
              ? sendJson(res, 503, { status: 'draining' })
              : sendJson(res, 200, { status: 'ready', routeVersion: proxy.routeTable.version });
          case '/config':
            return sendJson(res, 200, { version: proxy.routeTable.version, config: proxy.routeTable.config });
          case '/stats':
            return sendJson(res, 200, proxyStats(proxy));
          case '/metrics':
            return metrics(req, res);
          default:
            throw new NotFoundError(`no admin route ${path}`);
        }
      } catch (err) {
        sendError(res, err);
      }
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    return closeServer(this.server, false);
  }
}
