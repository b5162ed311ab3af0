// The standalone host's HTTP API (`roam host`), documented in docs/host-api.md. Module upload, endpoint
// activation and deactivation, invocation, health, stats, and the stores that live on this host, which other
// hosts reach over the network.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BadRequestError,
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  UnauthorizedError,
} from '../core/errors.ts';
import { closeServer, listenOn, PROBE_PATH, readBody, sendError, sendJson } from '../core/http.ts';
import type { EndpointRequest, HeaderList } from './abi.ts';
import type { ActivateOptions, WasmHost } from './host.ts';
import type { Limits } from './limits.ts';

export interface HostServerOptions {
  /** When set, every route but /healthz and /invoke requires `authorization: Bearer <token>`. */
  token?: string;
  maxModuleBytes?: number;
  /**
   * The host takes its assignments from a control plane: module uploads and activations over this API are
   * refused (409), so the host runs only what the control plane told it to.
   */
  managed?: boolean;
  /** Serves GET /metrics (Prometheus text), e.g. the OpenTelemetry Prometheus reader's handler. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

const MAX_STORE_VALUE = 1024 * 1024;

// Hop-by-hop headers (RFC 9110 7.6.1) never reach an endpoint.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
]);

export function requestHeaders(req: IncomingMessage): HeaderList {
  const out: HeaderList = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name)) out.push([name, raw[i + 1]!]);
  }
  return out;
}

function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

function decodeSegment(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequestError(`${what} "${s}" is not valid percent-encoding`);
  }
}

export class HostServer {
  readonly host: WasmHost;
  private readonly server: Server;
  private readonly options: HostServerOptions;

  constructor(host: WasmHost, options: HostServerOptions = {}) {
    this.host = host;
    this.options = options;
    this.server = createServer(
      { keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 10_000 },
      (req, res) => {
        this.route(req, res).catch((err) => sendError(res, err));
      },
    );
  }

  listen(port: number, hostname = '127.0.0.1'): Promise<AddressInfo> {
    return listenOn(this.server, port, hostname);
  }

  close(): Promise<void> {
    return closeServer(this.server, true);
  }

  private authorize(req: IncomingMessage): void {
    if (this.options.token === undefined) return;
    if (req.headers.authorization !== `Bearer ${this.options.token}`) {
      throw new UnauthorizedError('missing or wrong bearer token');
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { path, query } = splitUrl(req.url ?? '/');
    const parts = path.split('/');
    const method = req.method ?? 'GET';
    const head = parts[1];

    if (head === 'invoke' && parts.length >= 3) {
      const endpoint = decodeSegment(parts[2]!, 'endpoint name');
      const rest = `/${parts.slice(3).join('/')}`;
      return this.invoke(req, res, endpoint, rest, query);
    }
    if (path === PROBE_PATH) {
      res.writeHead(204).end();
      return;
    }
    if (path === '/healthz' && method === 'GET') {
      return sendJson(res, 200, {
        status: 'ok',
        id: this.host.id,
        tier: this.host.tier,
        location: this.host.location,
      });
    }
    if (path === '/metrics' && method === 'GET' && this.options.metrics)
      return this.options.metrics(req, res);
    this.authorize(req);
    if (path === '/stats' && method === 'GET') {
      return sendJson(res, 200, { host: this.host.id, tier: this.host.tier, endpoints: this.host.stats() });
    }
    if (path === '/endpoints' && method === 'GET')
      return sendJson(res, 200, { endpoints: this.host.endpoints() });
    if (
      this.options.managed &&
      (head === 'modules' || head === 'endpoints') &&
      method !== 'GET' &&
      method !== 'HEAD'
    ) {
      throw new ConflictError('this host is managed by a control plane: deploy with `roam deploy` instead');
    }
    if (head === 'modules') return this.modules(req, res, method, parts);
    if (head === 'endpoints' && parts.length === 3) {
      const name = decodeSegment(parts[2]!, 'endpoint name');
      if (method === 'PUT') return this.activate(req, res, name);
      if (method === 'DELETE') {
        const timeout = new URLSearchParams(query).get('timeoutMs');
        const result = await this.host.deactivate(name, timeout ? Number(timeout) : undefined);
        return sendJson(res, 200, { endpoint: name, ...result });
      }
    }
    if (head === 'stores' && parts[3] === 'keys') return this.stores(req, res, method, parts, query);
    throw new NotFoundError(`no route for ${method} ${path}`);
  }

  private async modules(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    parts: string[],
  ): Promise<void> {
    const limit = this.options.maxModuleBytes ?? 64 * 1024 * 1024;
    if (method === 'POST' && parts.length === 2) {
      const bytes = await readBody(req, limit);
      const digest = this.host.modules.put(bytes);
      await this.compiled(digest);
      return sendJson(res, 201, { digest, size: bytes.length });
    }
    if (method === 'PUT' && parts.length === 3) {
      const bytes = await readBody(req, limit);
      const digest = this.host.modules.put(bytes, decodeSegment(parts[2]!, 'digest'));
      await this.compiled(digest);
      return sendJson(res, 201, { digest, size: bytes.length });
    }
    if (method === 'HEAD' && parts.length === 3) {
      res.writeHead(this.host.modules.has(decodeSegment(parts[2]!, 'digest')) ? 200 : 404).end();
      return;
    }
    throw new NotFoundError(`no route for ${method} /${parts.slice(1).join('/')}`);
  }

  /** An upload is answered once the module compiled, so a module the engine rejects is refused right there. */
  private async compiled(digest: string): Promise<void> {
    try {
      await this.host.modules.load(digest);
    } catch (err) {
      this.host.modules.remove(digest);
      throw err;
    }
  }

  private async activate(req: IncomingMessage, res: ServerResponse, endpoint: string): Promise<void> {
    const body = await readBody(req, 64 * 1024);
    let spec: { digest?: unknown; exec?: unknown; limits?: unknown; warm?: unknown };
    try {
      spec = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      throw new BadRequestError(
        'activation body must be JSON: {"digest": "sha256:...", "exec"?, "limits"?, "warm"?}',
      );
    }
    if (typeof spec.digest !== 'string')
      throw new InvalidArgumentError('activation needs "digest": "sha256:..."');
    const options: ActivateOptions = {};
    if (spec.exec !== undefined) {
      if (spec.exec !== 'inline' && spec.exec !== 'worker') {
        throw new InvalidArgumentError(
          `"exec" must be "inline" or "worker", got ${JSON.stringify(spec.exec)}`,
        );
      }
      options.exec = spec.exec;
    }
    if (spec.limits !== undefined) options.limits = spec.limits as Partial<Limits>;
    if (typeof spec.warm === 'number') options.warm = spec.warm;
    await this.host.activate(endpoint, spec.digest, options);
    sendJson(res, 200, { endpoint, digest: spec.digest, ready: true });
  }

  private async invoke(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: string,
    path: string,
    query: string,
  ): Promise<void> {
    const body = await readBody(req, 64 * 1024 * 1024);
    const request: EndpointRequest = {
      method: req.method ?? 'GET',
      path,
      query,
      headers: requestHeaders(req),
      body,
    };
    const traceparent = req.headers.traceparent;
    const out = await this.host.invoke(
      endpoint,
      request,
      typeof traceparent === 'string' ? traceparent : undefined,
    );
    const headers: [string, string][] = out.headers.filter(([k]) => !HOP_BY_HOP.has(k));
    headers.push(['content-length', String(out.body.length)]);
    res.writeHead(out.status, headers.flat());
    res.end(out.body);
  }

  private async stores(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    parts: string[],
    query: string,
  ): Promise<void> {
    const name = decodeSegment(parts[2]!, 'store name');
    const store = this.host.store(name);
    if (!store) throw new NotFoundError(`store "${name}" does not live on host ${this.host.id}`);
    if (parts.length === 4 && method === 'GET') {
      const params = new URLSearchParams(query);
      const limit = Math.min(Number(params.get('limit') ?? 1000) || 1000, 10_000);
      return sendJson(res, 200, { keys: await store.list(params.get('prefix') ?? '', limit) });
    }
    if (parts.length !== 5) throw new NotFoundError(`no route for ${method} /${parts.slice(1).join('/')}`);
    const key = decodeSegment(parts[4]!, 'key');
    if (method === 'GET') {
      const value = await store.get(key);
      if (value === undefined) throw new NotFoundError(`key "${key}" not found in store "${name}"`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.length });
      res.end(value);
      return;
    }
    if (method === 'PUT') {
      await store.put(key, await readBody(req, MAX_STORE_VALUE));
      res.writeHead(204).end();
      return;
    }
    if (method === 'DELETE') {
      const deleted = await store.delete(key);
      if (!deleted) throw new NotFoundError(`key "${key}" not found in store "${name}"`);
      res.writeHead(204).end();
      return;
    }
    throw new NotFoundError(`no route for ${method} /${parts.slice(1).join('/')}`);
  }
}
