// Passthrough: a request no route claims goes to the upstream service as a client would expect, streamed
// both ways with backpressure (nothing is buffered whole), trailers included, through undici's low-level
// dispatch so no convenience layer sits on the hot path.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Dispatcher } from 'undici';
import { forwardRequestHeaders } from './headers.ts';

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

export interface ForwardResult {
  status: number;
  /** Set when the upstream failed before a response started; the caller answers with a local reply. */
  error?: Error;
  responseBytes: number;
}

function hasBody(req: InboundRequest): boolean {
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  const h = req.headers;
  return (
    h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')
  );
}

function responseHeaders(headers: IncomingHttpHeaders, h2: boolean): IncomingHttpHeaders {
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
  traceparent?: string,
): Promise<ForwardResult> {
  return new Promise((resolve) => {
    const h2 = req.httpVersionMajor === 2;
    const headers = forwardRequestHeaders(req.rawHeaders, req.socket?.remoteAddress, 'http', traceparent);
    if (h2) {
      const authority = req.headers[':authority'];
      if (typeof authority === 'string') headers.push('host', authority);
    }
    let controller: Dispatcher.DispatchController | undefined;
    let pendingHead: IncomingHttpHeaders | undefined;
    const flushHead = () => {
      if (pendingHead === undefined) return;
      (res as ServerResponse).writeHead(status, pendingHead);
      pendingHead = undefined;
    };
    let started = false;
    let status = 0;
    let bytes = 0;
    let finished = false;
    const finish = (result: ForwardResult) => {
      if (finished) return;
      finished = true;
      resolve(result);
    };
    res.once('close', () => {
      // The client went away mid-exchange: stop the upstream side too.
      if (!finished && controller && !controller.aborted)
        controller.abort(new Error('client closed the connection'));
      finish({ status: status || 499, responseBytes: bytes });
    });

    upstream.dispatch(
      {
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? '/',
        headers,
        body: hasBody(req) ? (req as NodeJS.ReadableStream as IncomingMessage) : null,
        // The client decides about connection reuse on its own hop; upstream connections stay pooled.
        reset: false,
      },
      {
        onRequestStart(c) {
          controller = c;
        },
        onResponseStart(_c, statusCode, resHeaders) {
          started = true;
          status = statusCode;
          if (statusCode < 200) return; // 1xx: Node sends its own 100-continue
          const out = responseHeaders(resHeaders, h2);
          // HTTP/2: hold the head until data or the end arrives, so that a headers-only answer (gRPC's
          // trailers-only errors) leaves as one HEADERS frame that ends the stream, as the upstream sent it.
          if (h2) pendingHead = out;
          else (res as ServerResponse).writeHead(statusCode, out);
        },
        onResponseData(c, chunk) {
          bytes += chunk.length;
          flushHead();
          if (!(res as ServerResponse).write(chunk)) {
            c.pause();
            res.once('drain', () => c.resume());
          }
        },
        onResponseEnd(_c, trailers) {
          const hasTrailers = trailers !== undefined && Object.keys(trailers).length > 0;
          if (pendingHead && !hasTrailers) {
            (res as Http2ServerResponse).stream.respond(
              { ...pendingHead, ':status': status },
              { endStream: true },
            );
            pendingHead = undefined;
          } else {
            flushHead();
            if (hasTrailers) res.addTrailers(trailers as never);
            res.end();
          }
          finish({ status, responseBytes: bytes });
        },
        onResponseError(_c, error) {
          if (started) {
            // Mid-body failure: the only honest signal left is to cut the connection.
            res.destroy(error);
            finish({ status, responseBytes: bytes, error });
          } else {
            finish({ status: 0, responseBytes: 0, error });
          }
        },
      },
    );
  });
}
