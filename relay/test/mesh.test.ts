// The whole idea end to end with real processes: a host at the edge whose "carts" store lives on a cluster
// host. Started with its network map, every store call it makes crosses the relay and pays the edge-cluster
// RTT; the hosts themselves know nothing of the topology.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { startRoam, stopAll } from '../../cli/spawn.ts';

const CART = new URL('../../build/endpoints/cart.wasm', import.meta.url);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function deployCart(url: string): Promise<void> {
  const up = await request(`${url}/modules`, { method: 'POST', body: readFileSync(CART) });
  const { digest } = (await up.body.json()) as { digest: string };
  const act = await request(`${url}/endpoints/cart`, { method: 'PUT', body: JSON.stringify({ digest }) });
  expect(act.statusCode).toBe(200);
  await act.body.dump();
}

async function timedGet(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await request(url);
  expect(res.statusCode).toBe(200);
  await res.body.dump();
  return performance.now() - t0;
}

describe('a host through the relay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roam-relay-mesh-'));
  afterAll(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pays the edge-cluster RTT on each remote store call, and only with its map', async () => {
    const store = await startRoam([
      'host',
      '--tier',
      'cluster',
      '--listen',
      '127.0.0.1:0',
      '--exec',
      'inline',
      '--store',
      'carts=memory',
    ]);
    const edgePort = await freePort();
    await startRoam([
      'relay',
      '--node',
      `store=cluster@${store.address}`,
      '--node',
      `edge=edge@127.0.0.1:${edgePort}`,
      '--maps-dir',
      dir,
    ]);
    const storeFlag = ['--exec', 'inline', '--store', `carts=${store.url}`];
    const edge = await startRoam(
      ['host', '--tier', 'edge', '--listen', `127.0.0.1:${edgePort}`, ...storeFlag],
      {
        ROAM_NETWORK_MAP: join(dir, 'edge.json'),
      },
    );
    const direct = await startRoam(['host', '--tier', 'edge', '--listen', '127.0.0.1:0', ...storeFlag]);
    for (const h of [edge, direct]) await deployCart(h.url);

    const cart = '/invoke/cart/cart/ada';
    const samples = async (url: string) => {
      await timedGet(url); // opens the store connection (and pays its handshake)
      const ms: number[] = [];
      for (let i = 0; i < 5; i++) ms.push(await timedGet(url));
      return ms;
    };
    const relayed = await samples(`${edge.url}${cart}`);
    const local = await samples(`${direct.url}${cart}`);
    // The relay never delivers early, so every call through it pays the RTT; without the map the same call
    // can come in under it (timings on a busy machine are noisy, so only the fastest is compared).
    for (const ms of relayed) expect(ms).toBeGreaterThanOrEqual(40);
    expect(Math.min(...local)).toBeLessThan(40);
  }, 90_000);
});
