// Upgrade passthrough (WebSocket and other HTTP/1.1 upgrades): the handshake goes to the upstream through
// undici; once it answers 101, the two sockets are spliced and bytes flow both ways untouched. An upstream that
// refuses the upgrade (403, 426, ...) is answered to the client as it answered, status, headers and body.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { rawReply } from '../core/http.ts';
import { forwardRequestHeaders } from './headers.ts';
import { responseHeaders } from './passthrough.ts';

/** A refusal's body is relayed whole; past this it is cut, as no refusal needs more. */
const MAX_REFUSAL_BODY = 1024 * 1024;

function head(status: string, headers: IncomingHttpHeaders): string {
  let out = `HTTP/1.1 ${status}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out += `${k}: ${one}\r\n`;
  }
  return out;
}

export function upgrade(upstream: Pool, req: IncomingMessage, client: Duplex, head0: Buffer): void {
  const headers = forwardRequestHeaders(req.rawHeaders, req.socket.remoteAddress, 'http');
  // forwardRequestHeaders drops Connection and Upgrade as hop-by-hop; an upgrade carries them on purpose.
  const protocol = req.headers.upgrade ?? 'websocket';
  client.on('error', () => client.destroy());
  let controller: Dispatcher.DispatchController | undefined;
  // The client leaving mid-handshake abandons the upstream's side too.
  client.once('close', () => {
    if (controller && !controller.aborted) controller.abort(new Error('client closed the connection'));
  });
  let status = '';
  let refusal: IncomingHttpHeaders = {};
  const body: Buffer[] = [];
  let size = 0;
  upstream.dispatch(
    { path: req.url ?? '/', method: req.method as 'GET', headers, upgrade: protocol },
    {
      onRequestStart(c) {
        controller = c;
      },
      onRequestUpgrade(_c, statusCode, resHeaders, socket) {
        // The spliced connection lives as long as both ends want it: no idle timeout of the HTTP server.
        (client as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
        client.write(`${head(`${statusCode} Switching Protocols`, resHeaders)}\r\n`);
        if (head0.length > 0) socket.write(head0);
        socket.on('error', () => client.destroy());
        client.on('close', () => socket.destroy());
        socket.on('close', () => client.destroy());
        socket.pipe(client);
        client.pipe(socket);
      },
      onResponseStart(_c, statusCode, resHeaders, statusText) {
        status = `${statusCode} ${statusText || 'Upgrade Refused'}`;
        // Framing is the proxy's own: the body is relayed whole with its length, then the connection closes.
        const { 'content-length': _length, ...rest } = responseHeaders(resHeaders, false);
        refusal = rest;
      },
      onResponseData(c, chunk) {
        size += chunk.length;
        if (size > MAX_REFUSAL_BODY) {
          c.abort(new Error(`the upstream's refusal body exceeds ${MAX_REFUSAL_BODY} bytes`));
          return;
        }
        body.push(chunk);
      },
      onResponseEnd() {
        const bytes = Buffer.concat(body);
        client.end(
          Buffer.concat([
            Buffer.from(
              `${head(status, refusal)}connection: close\r\ncontent-length: ${bytes.length}\r\n\r\n`,
            ),
            bytes,
          ]),
        );
      },
      onResponseError(_c, err) {
        if (client.destroyed) return;
        if (status !== '') {
          client.destroy();
          return;
        }
        rawReply(client, '502 Bad Gateway', 'ROAM_ERR_UPSTREAM', `upgrade failed: ${err.message}`);
      },
    },
  );
}
