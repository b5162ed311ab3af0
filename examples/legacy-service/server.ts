// A sample legacy service: the kind of existing HTTP service a platform team puts a Roam sidecar in front of.
// Its routes exercise what passthrough must get right: streamed bodies, trailers, slow answers, request
// headers as seen by the service, and a WebSocket-style upgrade that echoes bytes.
// Run: node examples/legacy-service/server.ts --listen 127.0.0.1:8080
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

export function createLegacyService(): Server {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://legacy');
    switch (url.pathname) {
      case '/legacy/hello':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`hello from the legacy service (${req.method})\n`);
        return;
      case '/legacy/headers':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ headers: req.headers, httpVersion: req.httpVersion }));
        return;
      case '/legacy/echo': {
        // Streams the request body back as it arrives, then a trailer with its length.
        res.writeHead(200, { 'content-type': 'application/octet-stream', trailer: 'x-body-length' });
        let n = 0;
        req.on('data', (chunk: Buffer) => {
          n += chunk.length;
          res.write(chunk);
        });
        req.on('end', () => {
          res.addTrailers({ 'x-body-length': String(n) });
          res.end();
        });
        return;
      }
      case '/legacy/stream': {
        // Chunks spaced in time: a proxy that buffers whole bodies holds the first one back.
        const count = Number(url.searchParams.get('chunks') ?? 5);
        const gap = Number(url.searchParams.get('gapMs') ?? 50);
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const tick = () => {
          if (i === count) return res.end();
          res.write(`chunk ${i++}\n`);
          setTimeout(tick, gap);
        };
        tick();
        return;
      }
      case '/legacy/slow':
        setTimeout(
          () => {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.end('slow\n');
          },
          Number(url.searchParams.get('ms') ?? 1000),
        );
        return;
      case '/legacy/status':
        res.writeHead(Number(url.searchParams.get('code') ?? 200), { 'content-type': 'text/plain' });
        res.end(`status ${url.searchParams.get('code') ?? 200}\n`);
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`legacy service has no ${url.pathname}\n`);
    }
  });
  // A WebSocket-style upgrade (RFC 6455 handshake) that then echoes raw bytes back.
  server.on('upgrade', (req, socket) => {
    const key = req.headers['sec-websocket-key'] ?? '';
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
    );
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => socket.destroy());
  });
  return server;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { listen: { type: 'string', default: '127.0.0.1:8080' } } });
  const [host, port] = values.listen.split(':') as [string, string];
  const server = createLegacyService();
  server.listen(Number(port), host, () => {
    const a = server.address() as AddressInfo;
    console.log(
      JSON.stringify({ event: 'listening', component: 'legacy-service', address: `${a.address}:${a.port}` }),
    );
  });
  process.once('SIGTERM', () => server.close());
  // Started by `roam up` (an IPC channel to it): stop when it is gone, however it went.
  if (process.channel) {
    process.channel.unref();
    process.once('disconnect', () => {
      server.close();
      server.closeAllConnections();
    });
  }
  process.once('SIGINT', () => server.close());
}
