// Upgrade passthrough (WebSocket and other HTTP/1.1 upgrades): the handshake goes to the upstream through
// undici; once it answers 101, the two sockets are spliced and bytes flow both ways untouched.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Pool } from 'undici';
import { forwardRequestHeaders } from './headers.ts';

export function upgrade(upstream: Pool, req: IncomingMessage, client: Socket, head: Buffer): void {
  const headers = forwardRequestHeaders(req.rawHeaders, req.socket.remoteAddress, 'http');
  // forwardRequestHeaders drops Connection and Upgrade as hop-by-hop; an upgrade carries them on purpose.
  headers.push('connection', 'upgrade');
  const protocol = req.headers.upgrade ?? 'websocket';
  client.on('error', () => client.destroy());
  upstream
    .upgrade({ path: req.url ?? '/', method: req.method as 'GET', headers, protocol })
    .then(
      ({
        headers: resHeaders,
        socket,
      }: {
        headers: Record<string, string | string[] | undefined>;
        socket: Duplex;
      }) => {
        let response = 'HTTP/1.1 101 Switching Protocols\r\n';
        for (const [k, v] of Object.entries(resHeaders)) {
          if (v === undefined) continue;
          for (const one of Array.isArray(v) ? v : [v]) response += `${k}: ${one}\r\n`;
        }
        client.write(`${response}\r\n`);
        if (head.length > 0) socket.write(head);
        socket.on('error', () => client.destroy());
        client.on('close', () => socket.destroy());
        socket.on('close', () => client.destroy());
        socket.pipe(client);
        client.pipe(socket);
      },
    )
    .catch((err: Error) => {
      const body = JSON.stringify({ error: 'ROAM_ERR_UPSTREAM', message: `upgrade failed: ${err.message}` });
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-type: application/json\r\nx-roam-error: ROAM_ERR_UPSTREAM\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
}
