// Passthrough over the HTTP/1.1 pool: a request no route claims goes to the upstream service as a client
// would expect, streamed both ways with backpressure (nothing is buffered whole), trailers included, through
// undici's low-level dispatch so no convenience layer sits on the hot path. gRPC takes h2-upstream.ts instead.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Dispatcher } from 'undici';
import { forwardRequestHeaders } from './headers.ts';
import { isHttp2 } from './request-target.ts';

export type InboundRequest = IncomingMessage | Http2ServerRequest;
export type InboundResponse = ServerResponse | Http2ServerResponse;

const HOP_BY_HOP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
]);

/** undici's codes for an upstream that did not start its answer, or stalled in its body, in time. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export interface ForwardResult {
  status: number;
  /** Set when the upstream failed before a response started; the caller answers with a local reply. */
  error?: Error;
  /**
   * The upstream took too long: with `error`, the local reply is a 504 rather than a 502; without, the call's
   * gRPC deadline passed and the client was already answered (DEADLINE_EXCEEDED) or its stream reset.
   */
  timedOut?: true;
  responseBytes: number;
}

export interface ForwardOptions {
  /** The proxy's span, as the upstream's parent. */
  traceparent?: string;
  /** Who sent the request, appended to X-Forwarded-For (an HTTP/2 request's socket does not say). */
  clientAddress?: string;
  /** Aborting it stops the upstream attempt (and the client's answer, if one had started). */
  signal?: AbortSignal;
}

export interface PoolForwardOptions extends ForwardOptions {
  /** Time the upstream has to send its response head. */
  headersTimeoutMs: number;
  /** Longest silence allowed between two pieces of the response body. */
  bodyTimeoutMs: number;
}

function hasBody(req: InboundRequest): boolean {
  if (isHttp2(req)) return !req.stream.endAfterHeaders;
  const h = req.headers;
  return (
    h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')
  );
}

/** A response's headers without hop-by-hop ones (and those its Connection names), to send on to the client. */
export function responseHeaders(headers: IncomingHttpHeaders, h2: boolean): IncomingHttpHeaders {
  let tokens: string[] | undefined;
  const conn = headers.connection;
  if (conn)
    tokens = (Array.isArray(conn) ? conn.join(',') : conn).split(',').map((t) => t.trim().toLowerCase());
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP_RESPONSE.has(name) || tokens?.includes(name)) continue;
    // HTTP/2 forbids connection-specific headers; keep-alive style headers were dropped above.
    if (h2 && name === 'te') continue;
    out[name] = headers[name];
  }
  return out;
}

/** Forwards `req` to `upstream` and streams the answer into `res`. Resolves when the exchange is over. */
export function forward(
  upstream: Dispatcher,
  req: InboundRequest,
  res: InboundResponse,
  options: PoolForwardOptions,
): Promise<ForwardResult> {
  return new Promise((resolve) => {
    const h2 = isHttp2(req);
    const headers = forwardRequestHeaders(
      req.rawHeaders,
      options.clientAddress ?? req.socket?.remoteAddress,
      'http',
      options.traceparent,
    );
    if (h2) {
      const authority = req.headers[':authority'];
      if (typeof authority === 'string') headers.push('host', authority);
    }
    const signal = options.signal;
    let controller: Dispatcher.DispatchController | undefined;
    let started = false;
    let status = 0;
    let bytes = 0;
    let waitingForDrain = false;
    let finished = false;
    const abort = () => {
      if (controller && !controller.aborted)
        controller.abort(signal?.reason instanceof Error ? signal.reason : new Error('forwarding aborted'));
    };
    const finish = (result: ForwardResult) => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', abort);
      resolve(result);
    };
    const out = res as ServerResponse;
    res.once('close', () => {
      // The client went away mid-exchange: stop the upstream side too.
      if (!finished && controller && !controller.aborted)
        controller.abort(new Error('client closed the connection'));
      finish({ status: status || 499, responseBytes: bytes });
    });
    signal?.addEventListener('abort', abort);

    upstream.dispatch(
      {
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? '/',
        headers,
        body: hasBody(req) ? (req as NodeJS.ReadableStream as IncomingMessage) : null,
        // The client decides about connection reuse on its own hop; upstream connections stay pooled.
        reset: false,
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
      },
      {
        onRequestStart(c) {
          controller = c;
          if (signal?.aborted) abort();
        },
        onResponseStart(_c, statusCode, resHeaders) {
          if (statusCode < 200) return; // 1xx: Node sends its own 100-continue
          started = true;
          status = statusCode;
          out.writeHead(statusCode, responseHeaders(resHeaders, h2));
        },
        onResponseData(c, chunk) {
          bytes += chunk.length;
          // One 'drain' listener at a time: undici may deliver a few more chunks after pause().
          if (!out.write(chunk) && !waitingForDrain) {
            waitingForDrain = true;
            c.pause();
            res.once('drain', () => {
              waitingForDrain = false;
              c.resume();
            });
          }
        },
        onResponseEnd(_c, trailers) {
          if (Object.keys(trailers).length > 0) res.addTrailers(trailers as never);
          res.end();
          finish({ status, responseBytes: bytes });
        },
        onResponseError(_c, error) {
          const timedOut = TIMEOUT_CODES.has((error as { code?: string }).code ?? '') ? true : undefined;
          if (started) {
            // Mid-body failure: the only honest signal left is to cut the connection.
            res.destroy(error);
            finish({ status, responseBytes: bytes, error, timedOut });
          } else {
            finish({ status: 0, responseBytes: 0, error, timedOut });
          }
        },
      },
    );
  });
}
