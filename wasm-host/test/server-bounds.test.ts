// The host API's connections are bounded in every phase: a request head that is too slow, too large or
// malformed, and a body that never arrives, are each answered with Roam's JSON error and the connection closed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmHost } from '../index.ts';
import { HostServer } from '../server.ts';
import { rawRequest } from './raw-http.ts';

let host: WasmHost;
let server: HostServer;
let url: string;

beforeAll(async () => {
  host = new WasmHost({ id: 'bounds', tier: 'edge', exec: 'inline' });
  server = new HostServer(host, { headersTimeoutMs: 300, requestTimeoutMs: 600, maxHeaderSize: 4096 });
  url = `http://127.0.0.1:${(await server.listen(0)).port}`;
});
afterAll(async () => {
  await server.close();
  await host.close();
});

/** The status line and the JSON body of the one answer on a connection the server closed. */
function answer(text: string): { status: string; body: unknown } {
  return {
    status: text.slice(0, text.indexOf('\r\n')),
    body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)),
  };
}

describe('host API connections', () => {
  it('answers a request head that does not arrive in time with 408', async () => {
    const conn = await rawRequest(url, 'GET /healthz HTTP/1.1\r\nhost: h\r\n');
    expect(answer(await conn.closed)).toEqual({
      status: 'HTTP/1.1 408 Request Timeout',
      body: { error: 'ROAM_ERR_BAD_REQUEST', message: 'the request did not arrive in time' },
    });
  });

  it('answers a body that does not arrive in time with 408', async () => {
    const conn = await rawRequest(
      url,
      'POST /modules HTTP/1.1\r\nhost: h\r\ncontent-length: 100\r\n\r\npart',
    );
    expect(answer(await conn.closed).status).toBe('HTTP/1.1 408 Request Timeout');
  });

  it('answers an oversize request head with 431', async () => {
    const conn = await rawRequest(
      url,
      `GET /healthz HTTP/1.1\r\nhost: h\r\nx-big: ${'a'.repeat(8192)}\r\n\r\n`,
    );
    expect(answer(await conn.closed)).toMatchObject({
      status: 'HTTP/1.1 431 Request Header Fields Too Large',
      body: { error: 'ROAM_ERR_HEADERS_TOO_LARGE' },
    });
  });

  it('answers a malformed request with 400', async () => {
    const conn = await rawRequest(url, 'GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n');
    expect(answer(await conn.closed)).toMatchObject({
      status: 'HTTP/1.1 400 Bad Request',
      body: { error: 'ROAM_ERR_BAD_REQUEST' },
    });
  });

  it('still serves a well-formed request', async () => {
    const conn = await rawRequest(url, 'GET /healthz HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n');
    expect(await conn.closed).toMatch(/^HTTP\/1.1 200 OK\r\n/);
  });
});
