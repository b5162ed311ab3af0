// Small helpers shared by Roam's HTTP servers: bounded body reads, JSON replies, and error replies that carry
// the error's code in a header and a JSON body a client can act on.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { InvalidArgumentError, PayloadTooLargeError, type RoamError, toRoamError } from './errors.ts';
import { isValidName } from './names.ts';

/** Reads a request body, refusing (413) past `limit` bytes without buffering the excess. */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new PayloadTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limit}`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new PayloadTooLargeError(`request body exceeds the limit of ${limit} bytes`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers with the error's status, `x-roam-error: CODE`, and `{error, message, endpoint}`. */
export function sendError(res: ServerResponse, err: unknown): RoamError {
  const e = toRoamError(err);
  if (res.headersSent) {
    res.destroy(e);
    return e;
  }
  const text = JSON.stringify(e.toJSON());
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-roam-error': e.code,
  };
  // Only a name that follows the rule is echoed: anything else could break the header.
  if (e.endpoint !== undefined && isValidName(e.endpoint)) headers['x-roam-endpoint'] = e.endpoint;
  res.writeHead(e.status, headers);
  res.end(text);
  return e;
}

/** Parses "HOST:PORT" (or ":PORT", or "[::1]:PORT") for --listen style flags. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`${flag} expects HOST:PORT, got "${value}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Starts `server` on HOST:PORT (port 0 picks one) and resolves with the address it got. */
export function listenOn(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

/**
 * Stops `server`. `graceful`: idle keep-alive connections close now and busy ones after their response;
 * otherwise every connection is cut.
 */
export function closeServer(server: Server, graceful: boolean): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    if (graceful) server.closeIdleConnections();
    else server.closeAllConnections();
  });
}

/**
 * Answered 204 by every proxy and host without touching anything else: other nodes' network probes time a
 * request to it over a kept-alive connection (one round trip, through the network relay when there is one).
 */
export const PROBE_PATH = '/.roam/ping';

/**
 * Answers on a raw socket and closes it: for what never becomes a request object (malformed heads, CONNECT,
 * refused upgrades). The body is Roam's usual `{error, message}`.
 */
export function rawReply(socket: Duplex, status: string, code: string, message: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: application/json\r\nx-roam-error: ${code}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * A Node HTTP server's 'clientError' handler: what never became a request (a malformed or oversize head, a
 * client too slow to send one) gets 400, 431 or 408 with the reason, and the connection is closed. A reset
 * connection has nobody left to answer.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  rawReply(
    socket,
    tooLarge ? '431 Request Header Fields Too Large' : timeout ? '408 Request Timeout' : '400 Bad Request',
    tooLarge ? 'ROAM_ERR_HEADERS_TOO_LARGE' : 'ROAM_ERR_BAD_REQUEST',
    timeout
      ? 'the request did not arrive in time'
      : `malformed or oversize request (${err.code ?? err.message})`,
  );
}
