// The standalone host's HTTP API (`roam host`), documented in docs/host-api.md. Module upload, endpoint
// activation and deactivation, invocation, health, stats, and the stores that live on this host, which other
// hosts reach over the network. Names are checked here, at the edge; an /invoke is refused before its body is
// read; every phase of a connection is bounded; an invocation whose client goes away is cancelled.
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BadRequestError,
  ConflictError,
  EndpointBadResponseError,
  InvalidArgumentError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
} from '../core/errors.ts';
import { answerClientError, closeServer, PROBE_PATH, readBody, sendError, sendJson } from '../core/http.ts';
import { requireMeshPeer } from '../core/mesh-authz.ts';
import { MeshPort } from '../core/mesh-tls.ts';
import { nameFromPath } from '../core/names.ts';
import type { EndpointRequest, EndpointResponse, HeaderList } from './abi.ts';
import type { ActivateOptions, WasmHost } from './host.ts';
import { checkInteger, LIMIT_RANGES } from './limits.ts';

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
  /** Time a client has to send a request's head (default 10 s). */
  headersTimeoutMs?: number;
  /** Time a client has to send a whole request, body included (default 30 s); the invocation is not in it. */
  requestTimeoutMs?: number;
  /** An idle kept-alive connection is closed after this long (default 65 s, past the usual pools' 60 s). */
  keepAliveTimeoutMs?: number;
  /** Largest request head (default 16 KiB); a larger one is answered 431. */
  maxHeaderSize?: number;
}

const MAX_STORE_VALUE = 1024 * 1024;
const ACTIVATION_FIELDS = ['digest', 'exec', 'limits', 'warm'];

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

/** Decodes a path segment that is not a name (a digest, a store key). */
function decodeSegment(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new BadRequestError(`${what} ${JSON.stringify(s)} is not valid percent-encoding`);
  }
}

/**
 * An endpoint's response headers without hop-by-hop ones, each checked the way Node would check it, so a
 * module that returns a header Node cannot send gets a 502 naming it rather than an internal error.
 */
function responseHeaders(endpoint: string, out: EndpointResponse): string[] {
  const flat: string[] = [];
  for (const [name, value] of out.headers) {
    if (HOP_BY_HOP.has(name)) continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      throw new EndpointBadResponseError(
        `endpoint "${endpoint}" returned a header that cannot be sent: ${JSON.stringify(name)}`,
        { endpoint },
      );
    }
    flat.push(name, value);
  }
  flat.push('content-length', String(out.body.length));
  return flat;
}

export class HostServer {
  readonly host: WasmHost;
  private readonly server: Server;
  /** Where connections arrive: mesh TLS and plaintext on one port (core/mesh-tls.ts). */
  private readonly port: MeshPort;
  private readonly options: HostServerOptions;

  constructor(host: WasmHost, options: HostServerOptions = {}) {
    this.host = host;
    this.options = options;
    const headersTimeout = options.headersTimeoutMs ?? 10_000;
    const requestTimeout = options.requestTimeoutMs ?? 30_000;
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      this.route(req, res).catch((err) => this.fail(req, res, err));
    };
    this.server = createServer(
      {
        headersTimeout,
        requestTimeout,
        keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
        // How often Node checks the two timeouts above; its 30 s default would let a slow client sit far
        // past them.
        connectionsCheckingInterval: Math.max(100, Math.min(headersTimeout, requestTimeout) / 4),
        maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
      },
      handle,
    );
    // `expect: 100-continue` requests come here too: body() sends 100 Continue only once the request passed
    // every check, so a refused one is answered without its body ever being sent.
    this.server.on('checkContinue', handle);
    this.server.on('clientError', answerClientError);
    this.port = new MeshPort(this.server, headersTimeout);
  }

  listen(port: number, hostname = '127.0.0.1'): Promise<AddressInfo> {
    return this.port.listen(port, hostname);
  }

  async close(): Promise<void> {
    await Promise.all([this.port.close(), closeServer(this.server, true)]);
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    // The client is gone (a cancelled invocation ends here): nobody is left to answer.
    if (res.destroyed) return;
    // Refused before its body was read to the end: the connection closes after the answer, so the rest of the
    // body is neither read nor taken for the next request.
    if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
    sendError(res, err);
  }

  /**
   * Reads a body of at most `limit` bytes. A client waiting on `expect: 100-continue` is told to send it only
   * now, after the request passed its checks, and not at all if it is declared too large.
   */
  private body(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Uint8Array> {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      throw new PayloadTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limit}`);
    }
    if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
    return readBody(req, limit);
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
    // With mTLS on, the host's API answers mesh identities only; health and metrics stay open to the probes
    // and scrapers of the platform (kubelet, Prometheus), which hold no mesh certificate.
    const open = method === 'GET' && (path === '/healthz' || path === '/metrics');
    if (!open) requireMeshPeer(req, `host ${this.host.id}'s ${head === 'invoke' ? '/invoke' : 'API'}`);

    if (head === 'invoke' && parts.length >= 3) {
      const endpoint = nameFromPath(parts[2]!, 'endpoint');
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
      const name = nameFromPath(parts[2]!, 'endpoint');
      if (method === 'PUT') return this.activate(req, res, name);
      if (method === 'DELETE') {
        const timeout = new URLSearchParams(query).get('timeoutMs');
        const drainMs =
          timeout === null
            ? undefined
            : checkInteger(
                'timeoutMs',
                /^\d{1,9}$/.test(timeout) ? Number(timeout) : timeout,
                0,
                LIMIT_RANGES.timeoutMs[1],
              );
        const result = await this.host.deactivate(name, drainMs);
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
      const bytes = await this.body(req, res, limit);
      const digest = this.host.modules.put(bytes);
      await this.compiled(digest);
      return sendJson(res, 201, { digest, size: bytes.length });
    }
    if (method === 'PUT' && parts.length === 3) {
      const bytes = await this.body(req, res, limit);
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
    const body = await this.body(req, res, 64 * 1024);
    const usage = 'activation body must be JSON: {"digest": "sha256:...", "exec"?, "limits"?, "warm"?}';
    let spec: unknown;
    try {
      spec = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch {
      throw new BadRequestError(usage);
    }
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new BadRequestError(usage);
    for (const field of Object.keys(spec)) {
      if (!ACTIVATION_FIELDS.includes(field)) {
        throw new InvalidArgumentError(
          `activation field ${JSON.stringify(field)} is not one of ${ACTIVATION_FIELDS.join(', ')}`,
        );
      }
    }
    const { digest, ...options } = spec as { digest?: unknown };
    if (typeof digest !== 'string') throw new InvalidArgumentError('activation needs "digest": "sha256:..."');
    // WasmHost.activate checks exec, limits and warm, for every caller alike.
    await this.host.activate(endpoint, digest, options as ActivateOptions);
    sendJson(res, 200, { endpoint, digest, ready: true });
  }

  private async invoke(
    req: IncomingMessage,
    res: ServerResponse,
    endpoint: string,
    path: string,
    query: string,
  ): Promise<void> {
    // Refused before a byte of the body is read: an endpoint that is not here, or a body over its limit.
    const body = await this.body(req, res, this.host.maxRequestBytes(endpoint));
    const request: EndpointRequest = {
      method: req.method ?? 'GET',
      path,
      query,
      headers: requestHeaders(req),
      body,
    };
    const traceparent = req.headers.traceparent;
    // A response that closes before it was written means the client went away: the endpoint is interrupted.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const out = await this.host.invoke(
      endpoint,
      request,
      typeof traceparent === 'string' ? traceparent : undefined,
      gone.signal,
    );
    res.writeHead(out.status, responseHeaders(endpoint, out));
    res.end(out.body);
  }

  private async stores(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    parts: string[],
    query: string,
  ): Promise<void> {
    const name = nameFromPath(parts[2]!, 'store');
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
      await store.put(key, await this.body(req, res, MAX_STORE_VALUE));
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
