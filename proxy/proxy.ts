// The sidecar proxy: composes the listener, the route table, passthrough and the endpoint dispatch stack, the
// embedded in-process Wasm host, and the admin listener. Requests read the route table current when they
// arrived; a new table is built and its local modules warmed before it is swapped in.
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import { type Context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Pool } from 'undici';
import {
  EndpointNotActiveError,
  EndpointTimeoutError,
  NotFoundError,
  OverloadedError,
  PayloadTooLargeError,
  type RoamError,
  toRoamError,
  UpstreamError,
} from '../core/errors.ts';
import { Histogram } from '../core/histogram.ts';
import { PROBE_PATH, rawReply } from '../core/http.ts';
import { checkCaller, requireMeshPeer } from '../core/mesh-authz.ts';
import { isValidName, nameFromPath } from '../core/names.ts';
import { meshConnector } from '../core/network.ts';
import { undici } from '../core/undici.ts';
import type {
  CallContext,
  EndpointRequest,
  EndpointResponse,
  HeaderList,
  WasmHost,
} from '../wasm-host/index.ts';
import { ClientShares } from './client-share.ts';
import { compose, type Dispatch, type EndpointCall, isIdempotent } from './dispatch.ts';
import { type FastExchange, FastPassthrough, type FastRequest } from './fast-passthrough.ts';
import { forwardRequestHeaders } from './headers.ts';
import { balancerLayer } from './layers/balancer.ts';
import { loadShedLayer } from './layers/load-shed.ts';
import { outlierLayer } from './layers/outlier.ts';
import { RetryBudget, retryLayer } from './layers/retry.ts';
import { timeoutLayer } from './layers/timeout.ts';
import { clientAddress, Listener } from './listener.ts';
import { type HeapUse, MemoryGuard } from './memory-guard.ts';
import type { ForwardResult } from './passthrough.ts';
import { hostOfAuthority, requestTarget } from './request-target.ts';
import { type Route, type RouteConfig, RouteTable } from './route-table.ts';
import { TargetStates } from './target-state.ts';
import {
  endSpan,
  type RequestRecorder,
  recordServerDuration,
  startServerSpan,
  telemetryLayer,
  traceparentFor,
} from './telemetry.ts';
import { transport } from './transports.ts';
import { upgrade } from './upgrade.ts';
import { Upstream } from './upstream.ts';

export interface ProxyLimits {
  maxBodyBytes: number;
  maxHeaderSize: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** No byte either way on a connection (HTTP/1.1) or stream (HTTP/2) with a request in progress. */
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  maxPendingPerTarget: number;
  /** Inbound connections open at once. */
  maxConnections: number;
  /** HTTP/2 streams open at once on one inbound connection. */
  maxConcurrentStreams: number;
  /** Most connections the proxy opens to its upstream service over HTTP/1.1. */
  maxUpstreamConnections: number;
  /**
   * Passthrough requests one client address may have in flight: no single client can take every upstream
   * connection, however slowly it sends or reads.
   */
  maxUpstreamPerClient: number;
  /** Time the upstream has to start answering a passthrough request (not gRPC: its grpc-timeout bounds it). */
  upstreamHeadersTimeoutMs: number;
  /** Longest silence within a passthrough answer's body (not gRPC). */
  upstreamBodyTimeoutMs: number;
  /**
   * Past this fraction of V8's heap limit (--max-old-space-size) new requests get 503 until the heap is back
   * under `memoryResumeAt`: a defined behaviour at the memory cap instead of an out-of-memory crash.
   */
  memoryShedAt: number;
  memoryResumeAt: number;
}

export const DEFAULT_PROXY_LIMITS: ProxyLimits = {
  maxBodyBytes: 8 * 1024 * 1024,
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 65_000,
  idleTimeoutMs: 300_000,
  drainTimeoutMs: 15_000,
  maxPendingPerTarget: 1024,
  maxConnections: 10_000,
  maxConcurrentStreams: 100,
  maxUpstreamConnections: 1024,
  maxUpstreamPerClient: 512,
  upstreamHeadersTimeoutMs: 60_000,
  upstreamBodyTimeoutMs: 60_000,
  memoryShedAt: 0.9,
  memoryResumeAt: 0.8,
};

export interface ProxyOptions {
  id: string;
  /** The service this sidecar fronts; requests no route claims go there unchanged. */
  upstream?: string;
  /** The embedded in-process host, if this proxy runs endpoints itself. */
  host?: WasmHost;
  limits?: Partial<ProxyLimits>;
  /** Told about every request clients send (the profiler); none when profiling is off. */
  recorder?: RequestRecorder;
  /** Where heap figures come from for the memory cap (V8's, unless a test says otherwise). */
  heapUse?: () => HeapUse;
  /**
   * HTTP/1.1 passthrough on raw connections (fast-passthrough.ts); default on. Off, every request takes Node's
   * HTTP server and undici (the slow path), as in benchmarks that compare the two.
   */
  fastPath?: boolean;
}

/** What the mesh reserves for itself on every proxy: probes, endpoint calls, invocations between proxies. */
export const RESERVED_PREFIX = '/.roam/';
/** Calls from standalone hosts to endpoints by name arrive under this reserved prefix. */
export const MESH_CALL_PREFIX = '/.roam/call/';
/**
 * Other proxies reach the endpoints this proxy's embedded host runs here: served by that host only, never
 * routed on (so no two proxies can bounce a request between them).
 */
export const LOCAL_INVOKE_BASE = '/.roam';
export const LOCAL_INVOKE_PREFIX = `${LOCAL_INVOKE_BASE}/invoke/`;

export interface EndpointStat {
  requests: number;
  errors: number;
  latency: Histogram;
  byCode: Record<string, number>;
}

const HOP_BY_HOP_OUT = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
]);

/** Rewrites an absolute-form request to origin form, its authority replacing Host (RFC 9112 3.2.2). */
function toOriginForm(req: IncomingMessage | Http2ServerRequest, origin: string, authority: string): void {
  req.url = origin;
  const raw = req.rawHeaders;
  const at = raw.findIndex((v, i) => i % 2 === 0 && v.toLowerCase() === 'host');
  if (at < 0) raw.push('host', authority);
  else raw[at + 1] = authority;
  req.headers.host = authority;
}

function requestHeaders(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (
      name.charCodeAt(0) === 58 ||
      name === 'connection' ||
      name === 'keep-alive' ||
      name === 'transfer-encoding'
    ) {
      continue;
    }
    // Expect was answered on the client's hop (Node sends 100 Continue); it is not the endpoint's to see.
    if (name === 'host' || name === 'content-length' || name === 'expect') continue;
    out.push([name, raw[i + 1]!]);
  }
  return out;
}

function readBody(
  req: IncomingMessage | Http2ServerRequest,
  limit: number,
  endpoint: string,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(
        new PayloadTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limit}`, {
          endpoint,
        }),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new PayloadTooLargeError(`request body exceeds the limit of ${limit} bytes`, { endpoint }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

export class SidecarProxy {
  readonly id: string;
  readonly limits: ProxyLimits;
  readonly host: WasmHost | undefined;
  readonly targets = new TargetStates();
  readonly endpointStats = new Map<string, EndpointStat>();
  readonly passthroughStats = { requests: 0, errors: 0, latency: new Histogram() };
  private readonly recorder: RequestRecorder | undefined;
  private table = RouteTable.empty();
  private readonly upstream: Upstream | undefined;
  private readonly clientShares: ClientShares;
  readonly memory: MemoryGuard;
  private readonly hostPools = new Map<string, Pool>();
  private readonly listener: Listener;
  private readonly dispatch: Dispatch;
  private inFlight = 0;
  /** HTTP/1 responses in progress, so a drain can ask their clients to close the connection. */
  private readonly pendingH1 = new Set<ServerResponse>();
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(options: ProxyOptions) {
    this.id = options.id;
    this.limits = { ...DEFAULT_PROXY_LIMITS, ...options.limits };
    this.host = options.host;
    this.recorder = options.recorder;
    this.clientShares = new ClientShares(this.limits.maxUpstreamPerClient);
    this.memory = new MemoryGuard({
      shedAt: this.limits.memoryShedAt,
      resumeAt: this.limits.memoryResumeAt,
      intervalMs: 250,
      ...(options.heapUse ? { read: options.heapUse } : {}),
    });
    this.upstream = options.upstream
      ? new Upstream(options.upstream, {
          connections: this.limits.maxUpstreamConnections,
          headersTimeoutMs: this.limits.upstreamHeadersTimeoutMs,
          bodyTimeoutMs: this.limits.upstreamBodyTimeoutMs,
        })
      : undefined;
    this.listener = new Listener(
      {
        maxHeaderSize: this.limits.maxHeaderSize,
        headersTimeoutMs: this.limits.headersTimeoutMs,
        requestTimeoutMs: this.limits.requestTimeoutMs,
        keepAliveTimeoutMs: this.limits.keepAliveTimeoutMs,
        idleTimeoutMs: this.limits.idleTimeoutMs,
        maxConnections: this.limits.maxConnections,
        maxConcurrentStreams: this.limits.maxConcurrentStreams,
      },
      (req, res) => this.onRequest(req, res),
      (req, socket, head) => this.onUpgrade(req, socket, head),
    );
    this.dispatch = compose(
      [
        timeoutLayer,
        retryLayer(new RetryBudget()),
        balancerLayer(this.targets),
        loadShedLayer(this.targets, this.limits.maxPendingPerTarget),
        outlierLayer(this.targets),
        telemetryLayer(() => this.table.version),
      ],
      transport({
        local: this.host,
        upstream: () => this.upstream?.pool,
        hostPool: (url) => this.hostPool(url),
      }),
    );
    if (this.host) this.host.caller = (name, req, ctx) => this.callEndpoint(name, req, ctx);
    if (this.upstream && options.fastPath !== false) {
      const proxy = this;
      this.listener.useFastPath(
        new FastPassthrough(
          this.upstream.raw,
          {
            begin: (req) => this.beginFast(req),
            get draining() {
              return proxy.draining;
            },
          },
          this.limits,
          (socket, buffered) => this.listener.toHttp1Server(socket, buffered),
        ),
      );
    }
  }

  get routeTable(): RouteTable {
    return this.table;
  }

  get inFlightRequests(): number {
    return this.inFlight;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  listen(port: number, host: string) {
    return this.listener.listen(port, host);
  }

  /** One keep-alive pool per origin (a target URL may carry a path prefix, e.g. another proxy's `/.roam`). */
  private hostPool(origin: string): Pool {
    let pool = this.hostPools.get(origin);
    if (pool === undefined) {
      pool = new (undici().Pool)(origin, {
        connections: 64,
        keepAliveTimeout: 30_000,
        connect: meshConnector(),
      });
      this.hostPools.set(origin, pool);
    }
    return pool;
  }

  /**
   * Builds and swaps in a new route table. Local endpoints are activated (compiled, warmed) on the embedded
   * host first, so the new table never points at something that is not ready (make before break).
   */
  async applyRoutes(config: RouteConfig, options: { unloadLocal?: boolean } = {}): Promise<RouteTable> {
    const next = RouteTable.build(config);
    for (const name of next.endpointNames()) {
      const ep = next.endpoint(name)!;
      if (!ep.targets.some((t) => t.spec.kind === 'local')) continue;
      if (!this.host)
        throw new UpstreamError(`endpoint "${name}" has a local target but this proxy embeds no host`);
      if (this.host.activeDigest(name) !== ep.digest) await this.host.activate(name, ep.digest!);
    }
    const previous = this.table;
    this.table = next;
    // Break after make: unload local endpoints the new table no longer runs here (unless the control plane's
    // assignments decide what the embedded host runs).
    if (this.host && options.unloadLocal !== false) {
      for (const name of previous.endpointNames()) {
        const stillLocal = next.endpoint(name)?.targets.some((t) => t.spec.kind === 'local');
        if (!stillLocal && this.host.isActive(name)) void this.host.deactivate(name).catch(() => {});
      }
    }
    return next;
  }

  private stat(endpoint: string): EndpointStat {
    let s = this.endpointStats.get(endpoint);
    if (s === undefined) {
      s = { requests: 0, errors: 0, latency: new Histogram(), byCode: {} };
      this.endpointStats.set(endpoint, s);
    }
    return s;
  }

  private onRequest(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ): void {
    this.inFlight++;
    const h1 = req.httpVersionMajor === 1 ? (res as ServerResponse) : undefined;
    if (h1) {
      if (this.draining) h1.setHeader('connection', 'close');
      else this.pendingH1.add(h1);
    }
    const done = () => {
      if (h1) this.pendingH1.delete(h1);
      if (--this.inFlight === 0 && this.drained) this.drained();
    };
    this.handle(req, res).then(done, (err) => {
      this.localReply(res, toRoamError(err));
      done();
    });
  }

  private async handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) {
    if (this.memory.shedding) {
      this.memory.shed++;
      throw new OverloadedError(this.memory.reason());
    }
    const method = req.method ?? 'GET';
    const { origin, path, query, host, authority } = requestTarget(req);
    const table = this.table;

    let route: Route | undefined;
    let name: string | undefined;
    let endpointPath = path;
    // The mesh's own paths answer other mesh nodes only (with mTLS on; core/mesh-authz.ts).
    const peer = path.startsWith(RESERVED_PREFIX)
      ? requireMeshPeer(req as IncomingMessage, 'the reserved /.roam/ path')
      : undefined;
    if (path === PROBE_PATH) {
      (res as ServerResponse).writeHead(204).end();
      return;
    }
    const localOnly = path.startsWith(LOCAL_INVOKE_PREFIX);
    if (localOnly || path.startsWith(MESH_CALL_PREFIX)) {
      const rest = path.slice((localOnly ? LOCAL_INVOKE_PREFIX : MESH_CALL_PREFIX).length);
      const slash = rest.indexOf('/');
      name = nameFromPath(slash < 0 ? rest : rest.slice(0, slash), 'endpoint');
      endpointPath = slash < 0 ? '/' : rest.slice(slash);
      // An endpoint's caller policy is enforced where a call enters the mesh from its caller's node;
      // `/.roam/invoke/` is another proxy relaying a call or a routed request it already admitted.
      if (peer && !localOnly) checkCaller(peer, name, table.endpoint(name)?.callers);
    } else {
      route = table.match(method, host, path);
      name = route?.endpoint;
    }
    // Passthrough sends the request on in origin form, with the absolute target's authority as its Host.
    if (authority !== undefined) toOriginForm(req, origin, authority);

    const attributes = {
      'http.request.method': method,
      'url.path': path,
      'url.scheme': 'http',
      'network.protocol.version': req.httpVersion,
      'roam.route_version': table.version,
      ...(route ? { 'http.route': route.template } : {}),
      ...(name ? { 'roam.endpoint': name } : {}),
    };
    const { span, ctx } = startServerSpan(
      route ? `${method} ${route.template}` : method,
      req.headers,
      attributes,
    );
    const start = performance.now();
    let status = 0;
    try {
      status =
        name !== undefined
          ? await this.serveEndpoint(req, res, table, route, name, endpointPath, query, ctx, localOnly)
          : await this.passthrough(req, res, ctx);
      endSpan(span, status);
    } catch (err) {
      const e = toRoamError(err, name);
      status = e.status;
      endSpan(span, status, e);
      throw e;
    } finally {
      recordServerDuration((performance.now() - start) / 1000, {
        'http.request.method': method,
        'http.response.status_code': status,
        ...(route ? { 'http.route': route.template } : {}),
        ...(name ? { 'roam.endpoint': name } : {}),
      });
    }
  }

  private async passthrough(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    ctx: Context,
  ): Promise<number> {
    if (!this.upstream)
      throw new NotFoundError(`no route for ${req.method} ${req.url} and no upstream configured`);
    const client = clientAddress(req) ?? 'unknown';
    const release = this.clientShares.acquire(client);
    const start = performance.now();
    const incoming = req.headers.traceparent;
    const traceparent = traceparentFor(ctx, typeof incoming === 'string' ? incoming : undefined);
    let result: ForwardResult;
    try {
      result = await this.upstream.forward(req, res, { traceparent, clientAddress: client });
    } finally {
      release();
    }
    const error = this.passthroughDone(
      req.url ?? '/',
      Number(req.headers['content-length']) || 0,
      start,
      result,
    );
    if (error) throw error;
    return result.status;
  }

  /** Books a finished passthrough exchange; returns the error to answer with when the upstream failed. */
  private passthroughDone(
    url: string,
    requestBytes: number,
    start: number,
    result: ForwardResult,
  ): RoamError | undefined {
    const s = this.passthroughStats;
    s.requests++;
    const ms = performance.now() - start;
    s.latency.record(ms);
    const failed = result.timedOut ? 504 : 502;
    this.recorder?.passthroughRequest(
      url,
      result.error ? failed : result.status,
      ms,
      requestBytes,
      result.responseBytes,
    );
    if (!result.error) return undefined;
    s.errors++;
    if (result.timedOut) {
      return new EndpointTimeoutError(`upstream did not answer in time: ${result.error.message}`, {
        cause: result.error,
      });
    }
    return new UpstreamError(`upstream failed: ${result.error.message}`, { cause: result.error });
  }

  /**
   * Admits an HTTP/1.1 request to the fast path if it is plain passthrough: no route, no reserved path, not
   * shedding or draining, and within its client's share (else the slow path answers it, 503s included).
   * Books it like the slow path does: in flight, span, duration, passthrough stats and profiler.
   */
  private beginFast(req: FastRequest): FastExchange | undefined {
    if (this.draining || this.memory.shedding || req.path.startsWith(LOCAL_INVOKE_BASE)) return undefined;
    const host = hostOfAuthority(req.host);
    const table = this.table;
    if (host === undefined || table.match(req.method, host, req.path) !== undefined) return undefined;
    let release: () => void;
    try {
      release = this.clientShares.acquire(req.client);
    } catch {
      return undefined;
    }
    this.inFlight++;
    const carrier: Record<string, string> = {};
    for (let i = 0; i < req.headers.length; i += 2) {
      const name = req.headers[i]!.toLowerCase();
      if (name === 'traceparent' || name === 'tracestate') carrier[name] = req.headers[i + 1]!;
    }
    const { span, ctx } = startServerSpan(req.method, carrier, {
      'http.request.method': req.method,
      'url.path': req.path,
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
      'roam.route_version': table.version,
    });
    const start = performance.now();
    return {
      headers: forwardRequestHeaders(
        req.headers,
        req.client,
        'http',
        traceparentFor(ctx, carrier.traceparent),
      ),
      end: (result) => {
        release();
        const error = this.passthroughDone(req.target, req.contentLength, start, result);
        const status = error?.status ?? result.status;
        endSpan(span, status, error);
        recordServerDuration((performance.now() - start) / 1000, {
          'http.request.method': req.method,
          'http.response.status_code': status,
        });
        if (--this.inFlight === 0 && this.drained) this.drained();
        return error;
      },
    };
  }

  private async serveEndpoint(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    table: RouteTable,
    route: Route | undefined,
    name: string,
    path: string,
    query: string,
    ctx: Context,
    localOnly: boolean,
  ): Promise<number> {
    const stat = this.stat(name);
    stat.requests++;
    const start = performance.now();
    let status = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    // One signal for the whole call: the client going away cancels it whatever phase it is in.
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client closed the connection'));
    });
    try {
      const body = await readBody(req, this.limits.maxBodyBytes, name);
      bytesIn = body.length;
      const incoming = req.headers.traceparent;
      const request: EndpointRequest = {
        method: req.method ?? 'GET',
        path,
        query,
        headers: requestHeaders(req.rawHeaders),
        body,
      };
      const traceparent = typeof incoming === 'string' ? incoming : undefined;
      const out = localOnly
        ? await this.invokeLocal(name, request, traceparent, abort.signal)
        : await this.invoke(table, route, name, request, traceparent, ctx, abort);
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of out.headers) {
        if (HOP_BY_HOP_OUT.has(k)) continue;
        const prev = headers[k];
        headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      headers['content-length'] = String(out.body.length);
      (res as ServerResponse).writeHead(out.status, headers);
      res.end(out.body);
      stat.byCode[out.status] = (stat.byCode[out.status] ?? 0) + 1;
      status = out.status;
      bytesOut = out.body.length;
      return out.status;
    } catch (err) {
      stat.errors++;
      const e = toRoamError(err, name);
      stat.byCode[e.code] = (stat.byCode[e.code] ?? 0) + 1;
      status = e.status;
      throw e;
    } finally {
      const ms = performance.now() - start;
      stat.latency.record(ms);
      // Only requests from clients (a matched route): calls between endpoints and other proxies' forwarded
      // invocations are measured where they start.
      if (route && this.recorder) {
        const legacy = table.endpoint(name)?.targets.every((t) => t.spec.kind === 'upstream') === true;
        this.recorder.endpointRequest(name, legacy, status, ms, bytesIn, bytesOut);
      }
    }
  }

  private invokeLocal(
    name: string,
    req: EndpointRequest,
    traceparent: string | undefined,
    signal: AbortSignal,
  ) {
    if (!this.host)
      throw new EndpointNotActiveError(`endpoint "${name}" is not active here: this proxy embeds no host`, {
        endpoint: name,
      });
    return this.host.invoke(name, req, traceparent, signal);
  }

  private invoke(
    table: RouteTable,
    route: Route | undefined,
    name: string,
    req: EndpointRequest,
    traceparent: string | undefined,
    ctx: Context,
    abort: AbortController,
  ): Promise<EndpointResponse> {
    const endpoint = table.endpoint(name);
    if (!endpoint)
      return Promise.reject(new NotFoundError(`endpoint "${name}" has no targets`, { endpoint: name }));
    const call: EndpointCall = {
      endpoint,
      route,
      req,
      traceparent,
      context: ctx,
      signal: abort.signal,
      cancel: (reason) => abort.abort(reason),
      idempotent: isIdempotent(req.method),
      target: undefined,
      attempt: 0,
      tried: new Set(),
    };
    return this.dispatch(call);
  }

  /** Endpoint-to-endpoint calls from the embedded host: through the same dispatch as inbound requests. */
  callEndpoint(name: string, req: EndpointRequest, ctx: CallContext): Promise<EndpointResponse> {
    const parent = ctx.traceparent
      ? propagation.extract(ROOT_CONTEXT, { traceparent: ctx.traceparent })
      : ROOT_CONTEXT;
    // A cancelled invocation cancels the calls it made.
    const abort = new AbortController();
    ctx.signal?.addEventListener('abort', () => abort.abort(ctx.signal!.reason), { once: true });
    return this.invoke(this.table, undefined, name, req, ctx.traceparent, parent, abort);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (!this.upstream) {
      rawReply(socket, '404 Not Found', 'ROAM_ERR_NOT_FOUND', 'no upstream configured for an upgrade');
      return;
    }
    upgrade(this.upstream.pool, req, socket, head);
  }

  private localReply(res: ServerResponse | Http2ServerResponse, err: RoamError): void {
    if (res.headersSent) {
      res.destroy(err);
      return;
    }
    const body = JSON.stringify(err.toJSON());
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'x-roam-error': err.code,
    };
    if (err.endpoint !== undefined && isValidName(err.endpoint)) headers['x-roam-endpoint'] = err.endpoint;
    // Answered before the request's body arrived whole: the rest is not worth waiting for. HTTP/1.1 ends the
    // connection (the unread body would otherwise be taken for the next request); HTTP/2 discards what still
    // arrives and, once the answer is out, resets the stream with NO_ERROR (RFC 9113 8.1), so a client that
    // was refused stops sending and its stream's window is not held in memory.
    const unread = !res.req.complete;
    if (unread && !(res instanceof Http2ServerResponse)) headers.connection = 'close';
    (res as ServerResponse).writeHead(err.status, headers);
    res.end(body);
    if (unread && res instanceof Http2ServerResponse) {
      res.req.resume();
      const reset = () => res.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      // A HEAD answer ended with its headers (Node emits no 'finish' for it); others once their body is out.
      if (res.req.method === 'HEAD') reset();
      else res.once('finish', reset);
    }
  }

  /**
   * Graceful shutdown: stop accepting, let in-flight requests finish (HTTP/1 responses carry
   * `connection: close`, HTTP/2 sessions get GOAWAY) up to the drain timeout, then close everything.
   */
  async drain(timeoutMs = this.limits.drainTimeoutMs): Promise<{ drained: boolean }> {
    this.draining = true;
    this.listener.stopAccepting();
    for (const res of this.pendingH1) if (!res.headersSent) res.setHeader('connection', 'close');
    let drained = true;
    if (this.inFlight > 0) {
      drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.drained = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
    }
    // Let responses that just finished reach their clients (and HTTP/2 sessions close after GOAWAY) before
    // cutting what is left.
    await this.listener.settled(Math.min(1000, timeoutMs));
    this.listener.destroyAll();
    // Whatever is still open after the drain is cut, not waited for.
    await Promise.all([this.upstream?.destroy(), ...[...this.hostPools.values()].map((p) => p.destroy())]);
    await this.host?.close();
    this.memory.stop();
    return { drained };
  }
}
