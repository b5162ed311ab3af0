// Drop-in passthrough through a real `roam proxy` process in front of the sample legacy service: bodies
// stream both ways, trailers and status codes arrive unchanged, hop-by-hop headers stop at the proxy,
// upgrades are spliced, and malformed or oversize requests get clear 400/431 answers.
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Readable } from 'node:stream';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLegacyService } from '../../examples/legacy-service/server.ts';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';

let upstreamUrl = '';
let proxy: RoamProcess;
const legacy = createLegacyService();

beforeAll(async () => {
  legacy.listen(0, '127.0.0.1');
  await once(legacy, 'listening');
  upstreamUrl = `http://127.0.0.1:${(legacy.address() as AddressInfo).port}`;
  proxy = await startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', upstreamUrl]);
});
afterAll(async () => {
  await stopAll();
  legacy.close();
  legacy.closeAllConnections();
});

/** Sends raw bytes and returns everything the proxy answers until it closes the connection. */
async function raw(bytes: string): Promise<string> {
  const [host, port] = proxy.address.split(':');
  const socket = net.connect(Number(port), host);
  await once(socket, 'connect');
  socket.write(bytes);
  let out = '';
  socket.on('data', (d) => {
    out += d;
  });
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 3000))]);
  socket.destroy();
  return out;
}

describe('passthrough', () => {
  it('answers exactly as the service does, status and body', async () => {
    for (const path of ['/legacy/hello', '/legacy/status?code=418', '/nothing-here']) {
      const direct = await request(`${upstreamUrl}${path}`);
      const proxied = await request(`${proxy.url}${path}`);
      expect(proxied.statusCode).toBe(direct.statusCode);
      expect(await proxied.body.text()).toBe(await direct.body.text());
      expect(proxied.headers['content-type']).toBe(direct.headers['content-type']);
    }
  });

  it('drops hop-by-hop headers and adds X-Forwarded-For', async () => {
    // Raw bytes: HTTP clients refuse to send these headers themselves.
    const out = await raw(
      'GET /legacy/headers HTTP/1.1\r\nhost: x\r\nconnection: close, x-private\r\nx-private: secret\r\n' +
        'x-kept: yes\r\nkeep-alive: timeout=5\r\nproxy-connection: keep-alive\r\n\r\n',
    );
    // The body may arrive chunked: the JSON document is what lies between its outer braces.
    const json = out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1);
    const { headers } = JSON.parse(json) as { headers: Record<string, string> };
    expect(headers['x-kept']).toBe('yes');
    expect(headers['x-private']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['proxy-connection']).toBeUndefined();
    expect(headers['x-forwarded-for']).toMatch(/127\.0\.0\.1/);
    expect(headers['x-forwarded-proto']).toBe('http');
  });

  it('streams a response as the service sends it, without waiting for its end', async () => {
    const res = await request(`${proxy.url}/legacy/stream?chunks=3&gapMs=300`);
    const chunks: string[] = [];
    let endedAtFirstChunk: boolean | undefined;
    let ended = false;
    res.body.on('end', () => {
      ended = true;
    });
    for await (const chunk of res.body) {
      if (endedAtFirstChunk === undefined) endedAtFirstChunk = ended;
      chunks.push(chunk.toString());
    }
    expect(endedAtFirstChunk).toBe(false);
    expect(chunks.join('')).toBe('chunk 0\nchunk 1\nchunk 2\n');
  });

  it('streams a large request body through and delivers the response trailers', async () => {
    const size = 8 * 1024 * 1024;
    const body = Readable.from(
      (function* () {
        for (let sent = 0; sent < size; sent += 64 * 1024) yield Buffer.alloc(64 * 1024, sent % 251);
      })(),
    );
    const res = await request(`${proxy.url}/legacy/echo`, { method: 'POST', body });
    let received = 0;
    for await (const chunk of res.body) received += chunk.length;
    expect(received).toBe(size);
    expect(res.trailers['x-body-length']).toBe(String(size));
  });

  it('splices WebSocket upgrades', async () => {
    const client = new Client(proxy.url);
    const { socket, headers } = await client.upgrade({
      path: '/legacy/ws',
      protocol: 'websocket',
      headers: { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' },
    });
    expect(headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    socket.write('ping over the upgrade');
    const [echo] = await once(socket, 'data');
    expect(echo.toString()).toBe('ping over the upgrade');
    socket.destroy();
    await client.close();
  });

  it('accepts HTTP/2 cleartext and forwards it', async () => {
    const session = http2.connect(proxy.url);
    const stream = session.request({ ':path': '/legacy/hello', ':method': 'GET' });
    const [headers] = await once(stream, 'response');
    let body = '';
    stream.on('data', (d) => {
      body += d;
    });
    await once(stream, 'end');
    session.close();
    expect(headers[':status']).toBe(200);
    expect(body).toContain('hello from the legacy service');
  });

  it('rejects conflicting Content-Length and Transfer-Encoding with 400', async () => {
    const out = await raw(
      'POST /legacy/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 400/);
    expect(out).toContain('x-roam-error: ROAM_ERR_BAD_REQUEST');
  });

  it('rejects oversize headers with 431', async () => {
    const out = await raw(`GET /legacy/hello HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 431/);
  });

  it('does not let a slow client hold a connection past the header timeout', async () => {
    const strict = await startRoam([
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      upstreamUrl,
      '--headers-timeout-ms',
      '300',
      '--request-timeout-ms',
      '600',
    ]);
    const [host, port] = strict.address.split(':');
    // Half a request head, then silence: the proxy answers 408 and closes the connection.
    const socket = net.connect(Number(port), host);
    await once(socket, 'connect');
    socket.write('GET /legacy/hello HTTP/1.1\r\nhost: x\r\n');
    let out = '';
    socket.on('data', (d) => {
      out += d;
    });
    await once(socket, 'close');
    expect(out).toMatch(/^HTTP\/1\.1 408/);
    await strict.stop();
  });

  it('answers 502 with a reason when the upstream is down', async () => {
    const lonely = await startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', 'http://127.0.0.1:9']);
    const res = await request(`${lonely.url}/anything`);
    expect(res.statusCode).toBe(502);
    expect(res.headers['x-roam-error']).toBe('ROAM_ERR_UPSTREAM');
    expect(((await res.body.json()) as { message: string }).message).toMatch(/upstream/);
    await lonely.stop();
  });
});
