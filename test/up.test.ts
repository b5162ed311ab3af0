// `roam up`, what a newcomer runs first: the whole mesh comes up as processes, the examples answer through the
// sidecar of every site, the legacy service passes through, crossing sites pays the emulated distance, and
// Ctrl-C stops every process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoamProcess, startRoam, stopAll } from './support/processes.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'roam-up-'));
let mesh: RoamProcess;
let proxies: Record<string, string>;

beforeAll(async () => {
  mesh = await startRoam(['up', '--base-port', '0', '--data-dir', dataDir, '--no-traffic']);
  proxies = mesh.info.proxies as Record<string, string>;
}, 120_000);

afterAll(async () => {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

async function get(url: string, init: { method?: 'GET' | 'POST'; body?: string } = {}) {
  const started = performance.now();
  const res = await request(url, { method: init.method ?? 'GET', body: init.body ?? null });
  const body = await res.body.text();
  return { status: res.statusCode, body, ms: performance.now() - started };
}

describe('roam up', () => {
  it('starts a proxy per site, and the examples answer through each of them', async () => {
    expect(Object.keys(proxies).sort()).toEqual(['cluster', 'device', 'edge']);
    for (const url of Object.values(proxies)) {
      const hello = await get(`${url}/hello?name=roam`);
      expect(hello.status, hello.body).toBe(200);
      expect(JSON.parse(hello.body).message).toBe('Hello, roam!');
    }
    const added = await get(`${proxies.edge}/cart/ada/items`, { method: 'POST', body: 'sku=book&qty=2' });
    expect(added.status, added.body).toBe(200);
    const order = await get(`${proxies.device}/checkout/ada`, { method: 'POST' });
    expect(order.status, order.body).toBe(201);
    expect(JSON.parse(order.body)).toMatchObject({ user: 'ada', items: 1 });
  });

  it('passes what is not an endpoint through to the legacy service behind the cluster sidecar', async () => {
    const legacy = await get(`${proxies.cluster}/legacy/hello`);
    expect(legacy.status).toBe(200);
    expect(legacy.body).toContain('hello from the legacy service');
  });

  it('makes requests that cross sites pay the emulated distance', async () => {
    // Every endpoint starts in the cluster: from the device site that is a device -> cluster round trip
    // (50 ms in the default topology) on top of the work; from the cluster sidecar it is not.
    const far: number[] = [];
    const near: number[] = [];
    for (let i = 0; i < 5; i++) {
      far.push((await get(`${proxies.device}/hello?name=x`)).ms);
      near.push((await get(`${proxies.cluster}/hello?name=x`)).ms);
    }
    expect(Math.min(...far)).toBeGreaterThanOrEqual(45);
    expect(Math.min(...near)).toBeLessThan(Math.min(...far));
  });

  it('stops every process on Ctrl-C', async () => {
    expect(await mesh.stop('SIGINT')).toBe(0);
    for (const url of Object.values(proxies)) {
      await expect(request(`${url}/hello`)).rejects.toThrow(/ECONNREFUSED/);
    }
  }, 60_000);
});
