// The profiler end to end, with real processes on loopback: a control plane, two proxies at two sites (eu, us)
// in front of the sample legacy service, a cluster host running the example endpoints with its carts store on
// another host. Traffic through both proxies shows up in GET /api/profiles as rates by origin, cart's store
// accesses, checkout's calls to cart and pricing, CPU and memory per host, a legacy passthrough route, and
// probed distances; `roam profile checkout` prints it as tables.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOn } from '../../core/http.ts';
import { createLegacyService } from '../../examples/legacy-service/server.ts';
import {
  adminClient,
  type Json,
  meshNodeEnv,
  startControlPlane,
  startStoreHost,
} from '../../test/support/control-plane.ts';
import { endpointModule } from '../../test/support/modules.ts';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import type { EndpointProfile } from '../index.ts';

const execFileAsync = promisify(execFile);
const ROAM = new URL('../../bin/roam.ts', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'roam-profiles-'));
const REPORT = ['--report-interval-ms', '200'];
let cp: RoamProcess;
let adminToken = '';
const admin = adminClient(
  () => cp.url,
  () => adminToken,
);
let legacy: Server;
const proxies: Record<string, RoamProcess> = {};

async function deploy(endpoint: string, routes: string[]): Promise<void> {
  const up = await admin('POST', '/api/modules', endpointModule(endpoint));
  expect(up.status, JSON.stringify(up.json)).toBe(201);
  const res = await admin('POST', '/api/deploy', {
    endpoint,
    digest: up.json.digest,
    routes: routes.map((match) => ({ match })),
  });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function send(proxy: RoamProcess, method: string, path: string, body?: string): Promise<number> {
  const res = await request(`${proxy.url}${path}`, { method: method as 'GET', body: body ?? null });
  await res.body.dump();
  return res.statusCode;
}

async function profiles(): Promise<Map<string, EndpointProfile>> {
  const { json } = await admin('GET', '/api/profiles');
  return new Map((json.profiles as EndpointProfile[]).map((p) => [p.endpoint, p]));
}

beforeAll(async () => {
  legacy = createLegacyService();
  const legacyAddress = await listenOn(legacy, 0, '127.0.0.1');
  const started = await startControlPlane(dataDir);
  cp = started.process;
  adminToken = started.adminToken;
  const secret = started.secret;
  const grpc = cp.info.grpc as string;
  // mTLS is on: each node's credential, and the mesh CA it checks the control plane with.
  const nodeEnv = (id: string) => meshNodeEnv(secret, dataDir, id);
  for (const site of ['eu', 'us']) {
    const id = `p-${site}`;
    proxies[site] = await startRoam(
      [
        'proxy',
        '--id',
        id,
        '--location',
        site,
        '--listen',
        '127.0.0.1:0',
        '--upstream',
        `http://127.0.0.1:${legacyAddress.port}`,
        '--control-plane',
        grpc,
        ...REPORT,
      ],
      nodeEnv(id),
    );
  }
  // The carts store's host is a mesh node for its certificate only (every hop, the store's included, is mTLS).
  const storage = await startStoreHost(grpc, nodeEnv('storage'), ['--location', 'storage']);
  await startRoam(
    [
      'host',
      '--tier',
      'cluster',
      '--id',
      'h1',
      '--location',
      'eu',
      '--listen',
      '127.0.0.1:0',
      '--store',
      `carts=${storage.url}`,
      '--store',
      'orders=memory',
      '--store',
      'catalog=memory',
      '--mesh',
      `${proxies.eu!.url}/.roam/call`,
      '--control-plane',
      grpc,
      ...REPORT,
    ],
    nodeEnv('h1'),
  );
  await until(
    'three nodes to subscribe',
    async () => (await admin('GET', '/api/status')).json.nodes.length === 3,
  );
  await deploy('hello', ['GET /hello']);
  await deploy('cart', ['* /cart/*']);
  await deploy('pricing', ['POST /pricing']);
  await deploy('checkout', ['POST /checkout/{user}']);
  await until('both proxies to route every endpoint', async () => {
    for (const p of Object.values(proxies)) {
      if ((await send(p, 'GET', '/hello')) !== 200) return false;
      if ((await send(p, 'GET', '/cart/nobody')) !== 200) return false;
    }
    return true;
  });

  // Traffic: hello from both sites (three times as much from eu), carts filled and checked out in eu, and
  // legacy requests the service still answers.
  for (let i = 0; i < 30; i++) expect(await send(proxies.eu!, 'GET', '/hello?name=eu')).toBe(200);
  for (let i = 0; i < 10; i++) expect(await send(proxies.us!, 'GET', '/hello?name=us')).toBe(200);
  for (let i = 0; i < 5; i++) {
    const user = `user${i}`;
    expect(await send(proxies.eu!, 'POST', `/cart/${user}/items`, 'sku=book&qty=2')).toBe(200);
    expect(await send(proxies.eu!, 'POST', `/checkout/${user}`)).toBe(201);
  }
  for (let i = 0; i < 12; i++) expect(await send(proxies.us!, 'GET', '/legacy/hello')).toBe(200);
}, 90_000);

afterAll(async () => {
  await stopAll();
  legacy?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('profiles across the mesh', () => {
  it('shows request rates by origin site', async () => {
    const hello = await until('hello profiled from both sites', async () => {
      const p = (await profiles()).get('hello');
      return p && p.origins.length === 2 && p.hosts.length > 0 ? p : undefined;
    });
    const rate = Object.fromEntries(hello.origins.map((o) => [o.site, o.requestsPerSecond]));
    expect(rate.eu).toBeGreaterThan(rate.us!);
    expect(hello.errorRate).toBe(0);
    expect(hello.latencyMs.p50).toBeGreaterThan(0);
    expect(hello.hosts[0]).toMatchObject({ host: 'h1', tier: 'cluster', site: 'eu' });
    // CPU per call (sampled on the worker thread) and instance memory come from the host.
    expect(hello.hosts[0]!.cpuMsPerCall).toBeGreaterThan(0);
    expect(hello.hosts[0]!.memoryBytes).toBeGreaterThanOrEqual(65536);
    expect(hello.cpuMsPerCallByTier.cluster).toBeGreaterThan(0);
  });

  it("shows cart's accesses to its store, with the round trip from the host", async () => {
    // The readiness checks' GET /cart/nobody read the store once each; the adds and checkouts sent after them
    // read and write it several times, so the ratio climbs above 1 once their batches are in (a report taken
    // before then holds only the checks).
    const cart = await until('cart store accesses', async () => {
      const p = (await profiles()).get('cart');
      const carts = p?.stores.find((s) => s.store === 'carts');
      return carts && carts.accessesPerRequest > 1 ? p : undefined;
    });
    const carts = cart.stores.find((s) => s.store === 'carts')!;
    expect(carts.accessesPerRequest).toBeGreaterThan(1);
    expect(carts.bytesPerRequest).toBeGreaterThan(0);
    expect(carts.rttMs).toBeGreaterThan(0);
    expect(Object.keys(carts.rttMsBySite)).toEqual(['eu']);
  });

  it("shows checkout's calls to cart and pricing (the call graph)", async () => {
    // An invocation is counted when it starts and its calls as they happen, so a batch taken mid-invocation
    // splits them: the ratio settles at one call of each per checkout once every batch is in.
    const settled = (p: EndpointProfile) =>
      p.callees.length === 2 && p.callees.every((c) => Math.abs(c.callsPerRequest - 1) < 0.1);
    const checkout = await until('checkout calls', async () => {
      const p = (await profiles()).get('checkout');
      return p && settled(p) ? p : undefined;
    });
    const calls = Object.fromEntries(checkout.callees.map((c) => [c.endpoint, c]));
    expect(Object.keys(calls).sort()).toEqual(['cart', 'pricing']);
    expect(calls.cart!.bytesPerCall).toBeGreaterThan(0);
    expect(checkout.stores.map((s) => s.store)).toContain('orders');
    // pricing has no origin of its own here: it is profiled from the host, as called by checkout.
    const pricing = await until('pricing profiled', async () => (await profiles()).get('pricing'));
    expect(pricing.origins).toEqual([]);
    expect(pricing.requestsPerSecond).toBeGreaterThan(0);
  });

  it('profiles a legacy endpoint the service still answers, from the proxy', async () => {
    const legacyProfile = await until('the legacy route', async () =>
      (await profiles()).get('/legacy/hello'),
    );
    expect(legacyProfile).toMatchObject({ legacy: true, hosts: [] });
    expect(legacyProfile.origins.map((o) => o.site)).toEqual(['us']);
    expect(legacyProfile.meanResponseBytes).toBeGreaterThan(0);
    const one = await admin('GET', `/api/profiles/${encodeURIComponent('/legacy/hello')}`);
    expect(one.status).toBe(200);
    expect(one.json.profile.endpoint).toBe('/legacy/hello');
    const missing = await admin('GET', '/api/profiles/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.json.message).toContain('no profile for "nothing-here"');
  });

  it('measures site-to-site and site-to-store round trips with active probes', async () => {
    const d = await until('probed distances', async () => {
      const { json } = await admin('GET', '/api/profiles');
      const dist = json.distances;
      const ok =
        dist.sites.some((s: Json) => s.from === 'eu' && s.to === 'us') &&
        dist.sites.some((s: Json) => s.from === 'us' && s.to === 'eu') &&
        dist.stores.some((s: Json) => s.site === 'eu' && s.store === 'carts');
      return ok ? dist : undefined;
    });
    const euUs = d.sites.find((s: Json) => s.from === 'eu' && s.to === 'us');
    expect(euUs.rttMs).toBeGreaterThan(0);
    expect(euUs.jitterMs).toBeGreaterThanOrEqual(0);
    expect(euUs.samples).toBeGreaterThan(0);
  });

  it('prints a profile with roam profile, as tables or JSON', async () => {
    await until('checkout profiled', async () => (await profiles()).get('checkout'));
    const env = { ...process.env, ROAM_CONTROL_PLANE: cp.url, ROAM_TOKEN: adminToken };
    const run = async (args: string[]) =>
      (await execFileAsync(process.execPath, [ROAM, ...args], { env, encoding: 'utf8' })).stdout;
    const out = await run(['profile', 'checkout']);
    expect(out).toMatch(/^ENDPOINT\s+LEGACY\s+REQ\/S/);
    expect(out).toMatch(/Hosts\nHOST\s+TIER\s+SITE/);
    expect(out).toMatch(/h1\s+cluster\s+eu/);
    expect(out).toMatch(/Calls\nCALLEE\s+CALLS\/REQ/);
    expect(out).toMatch(/^cart\s+(0\.9\d|1\.0\d)/m);
    expect(out).toMatch(/^pricing\s+(0\.9\d|1\.0\d)/m);
    expect(out).toMatch(/^orders\s/m);
    const json = JSON.parse(await run(['profile', 'checkout', '--json']));
    expect(json.profile.endpoint).toBe('checkout');
    expect(await run(['profile'])).toMatch(/hello\s+false/);
    await expect(run(['profile', 'nothing-here'])).rejects.toThrow(/no profile for "nothing-here"/);
  });
});
