// h2c load through a real `roam proxy` with nghttp2's own clients: h2load for volume (every request must
// succeed with a 2xx and every response byte be accounted for) and nghttp for exact bodies (uploads echoed
// back, compared byte for byte) under tiny to huge flow-control windows, on both upstream legs (HTTP/1.1, and
// HTTP/2 for gRPC). Needs Debian's nghttp2-client: skipped without it, except in CI, where it fails.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import { needs, onPath } from '../../test/support/system.ts';

const run = promisify(execFile);
const TOOLS = ['h2load', 'nghttp'];
const missing = TOOLS.filter((tool) => !onPath(tool));
const present = missing.length === 0;
const wanted = needs('h2load and nghttp', present, 'apt-get install nghttp2-client');

const GRPC = 'content-type: application/grpc';
/** Upload sizes around the HTTP/2 frame (16 KiB) and default window (64 KiB) sizes. */
const SIZES = [1, 16383, 16384, 16385, 65535, 65536, 300_000];
/** Flow-control windows (2^bits - 1) for nghttp's streams and connection: tiny, the default, huge. */
const WINDOW_BITS = [10, 16, 30];

const dir = mkdtempSync(join(tmpdir(), 'roam-h2load-'));
const files = new Map<number, { path: string; body: Buffer }>();
/** HTTP/1.1 service: GET /bytes/N answers N bytes; POST /echo streams the body back. */
const h1Service = http.createServer((req, res) => {
  if (req.url === '/echo') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
    return;
  }
  const n = Number(req.url?.split('/')[2] ?? 0);
  res.writeHead(200, { 'content-length': String(n) });
  res.end(Buffer.alloc(n, 0x5a));
});
/** h2c service in gRPC's shape: echoes the body as it arrives, then trailers. */
const h2Service = http2.createServer();
h2Service.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.pipe(stream);
});
let h1Proxy: RoamProcess;
let h2Proxy: RoamProcess;

async function listen(server: http.Server | http2.Http2Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Load {
  succeeded: number;
  failed: number;
  status2xx: number;
  dataBytes: number;
}

/** Runs h2load and reads its summary ("requests: ...", "status codes: ...", "traffic: ... (N) data"). */
async function h2load(url: string, n: number, args: string[]): Promise<Load> {
  const { stdout } = await run('h2load', ['-n', String(n), '-t', '1', ...args, url], {
    maxBuffer: 1 << 20,
  });
  const requests =
    /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      stdout,
    );
  const status = /status codes: (\d+) 2xx/.exec(stdout);
  const traffic = /\((\d+)\) data/.exec(stdout);
  if (!requests || !status || !traffic) throw new Error(`unexpected h2load output:\n${stdout}`);
  return {
    succeeded: Number(requests[1]),
    failed: Number(requests[2]) + Number(requests[3]) + Number(requests[4]),
    status2xx: Number(status[1]),
    dataBytes: Number(traffic[1]),
  };
}

/** Uploads the file at `path` with nghttp and returns the body that came back. */
async function nghttp(url: string, path: string, bits: number, extra: string[] = []): Promise<Buffer> {
  const { stdout } = await run(
    'nghttp',
    ['-d', path, '-w', String(bits), '-W', String(bits), ...extra, url],
    {
      encoding: 'buffer',
      maxBuffer: 1 << 24,
    },
  );
  return stdout;
}

describe.runIf(wanted)('h2c load through the proxy (nghttp2-client)', () => {
  beforeAll(async () => {
    if (!present) return;
    for (const size of SIZES) {
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = (i * 131 + (i >> 9)) & 0xff;
      const path = join(dir, `upload-${size}`);
      writeFileSync(path, body);
      files.set(size, { path, body });
    }
    const [h1Url, h2Url] = await Promise.all([listen(h1Service), listen(h2Service)]);
    [h1Proxy, h2Proxy] = await Promise.all([
      startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', h1Url]),
      startRoam(['proxy', '--listen', '127.0.0.1:0', '--upstream', h2Url]),
    ]);
  });
  afterAll(async () => {
    await stopAll();
    h1Service.closeAllConnections();
    h1Service.close();
    h2Service.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // In CI the tools must be there (.ci/packages): their absence is a failure, not a skip.
  it('finds h2load and nghttp (apt-get install nghttp2-client)', () => {
    expect(missing).toEqual([]);
  });

  it.runIf(present)(
    'h2load: 4000 downloads over 8 connections, 16 streams each, all 2xx with every byte',
    async () => {
      const load = await h2load(`${h1Proxy.url}/bytes/16384`, 4000, ['-c', '8', '-m', '16']);
      expect(load).toEqual({ succeeded: 4000, failed: 0, status2xx: 4000, dataBytes: 4000 * 16384 });
    },
  );

  it.runIf(present)('h2load: uploads echoed through both legs, under tiny and huge windows', async () => {
    const size = 65536;
    const { path } = files.get(size)!;
    for (const [proxy, n, extra] of [
      [h1Proxy, 200, []],
      [h2Proxy, 400, ['-H', GRPC]],
    ] as const) {
      for (const bits of [12, 30]) {
        const load = await h2load(`${proxy.url}/echo`, n, [
          '-c',
          '4',
          '-m',
          '8',
          '-d',
          path,
          '-w',
          String(bits),
          '-W',
          String(bits),
          ...extra,
        ]);
        expect(load).toEqual({ succeeded: n, failed: 0, status2xx: n, dataBytes: n * size });
      }
    }
  });

  it.runIf(present)(
    'nghttp: every upload comes back byte for byte, every size and window, both legs',
    async () => {
      const cases = [h1Proxy, h2Proxy].flatMap((proxy) =>
        SIZES.flatMap((size) => WINDOW_BITS.map((bits) => ({ proxy, size, bits }))),
      );
      let next = 0;
      let checked = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < cases.length) {
            const { proxy, size, bits } = cases[next++]!;
            const { path, body } = files.get(size)!;
            const back = await nghttp(`${proxy.url}/echo`, path, bits, proxy === h2Proxy ? ['-H', GRPC] : []);
            if (!back.equals(body))
              throw new Error(`${size} bytes with ${bits}-bit windows came back different`);
            checked++;
          }
        }),
      );
      expect(checked).toBe(2 * SIZES.length * WINDOW_BITS.length);
    },
  );
});
