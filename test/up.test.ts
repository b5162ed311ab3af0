// `roam up`, what a newcomer runs first: the whole mesh comes up as processes, the examples answer through the
// sidecar of every site, the legacy service passes through, crossing sites pays the emulated distance, a
// process that dies is restarted where it was (test/up-supervision.test.ts has the rules), and Ctrl-C stops
// every process.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT } from '../core/paths.ts';
import { type RoamProcess, startRoam, stopAll } from './support/processes.ts';

const execFileAsync = promisify(execFile);

const dataDir = mkdtempSync(join(tmpdir(), 'roam-up-'));
let mesh: RoamProcess;
let proxies: Record<string, string>;

beforeAll(async () => {
  // It starts a dozen processes one after another: on a busy machine that takes more than the usual 20 s.
  const args = ['up', '--base-port', '0', '--data-dir', dataDir, '--no-traffic'];
  mesh = await startRoam(args, {}, { readyTimeoutMs: 100_000 });
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

async function admin(path: string): Promise<Record<string, unknown>> {
  const dashboard = new URL(mesh.info.dashboard as string);
  const token = dashboard.searchParams.get('token');
  const res = await request(`${dashboard.origin}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.body.json()) as Record<string, unknown>;
}

/** The JSON lines `roam up` has written to stderr (its own and none of its processes'). */
function logged(): Record<string, unknown>[] {
  return mesh
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Retries `find` until it answers something (the mesh is putting itself back together meanwhile). */
function until<T>(what: string, find: () => T | undefined | Promise<T | undefined>): Promise<T> {
  return vi.waitFor(
    async () => {
      const found = await find();
      if (found === undefined)
        throw new Error(`still waiting for ${what}; roam up logged:\n${mesh.stderr().slice(-2000)}`);
      return found;
    },
    { timeout: 30_000, interval: 100 },
  );
}

/** Each process's pid now: the one `roam up` listed at start, or the last it logged restarting it with. */
function currentPids(): Record<string, number> {
  const restarted = logged().filter((e) => e.event === 'restarted');
  return {
    ...(mesh.info.pids as Record<string, number>),
    ...Object.fromEntries(restarted.map((e) => [e.node as string, e.pid as number])),
  };
}

/** What a live process was started with ("" once it is gone); pids are reused on a busy machine. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function kill(node: string): number {
  const pid = currentPids()[node]!;
  expect(commandLine(pid)).toContain(dataDir);
  process.kill(pid, 'SIGKILL');
  return pid;
}

function restartOf(node: string) {
  return until(`${node} to be restarted`, () =>
    logged().find((e) => e.event === 'restarted' && e.node === node),
  );
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

  it('speaks mTLS between its nodes: an outsider gets 403 from the mesh paths, hosts and the store host (issue 17)', async () => {
    // The issue's own tries, from outside the mesh: ada's cart through a sidecar's mesh path, a host's
    // /invoke, and writes to the data-store host.
    const cart = await get(`${proxies.device}/.roam/call/cart/cart/ada`);
    expect(cart.status).toBe(403);
    expect(JSON.parse(cart.body)).toMatchObject({ error: 'ROAM_ERR_MESH_IDENTITY_REQUIRED' });
    const { nodes } = (await admin('/api/hosts')) as { nodes: { kind: string; address: string }[] };
    const host = nodes.find((n) => n.kind === 'host')!;
    expect((await get(`${host.address}/invoke/hello/hello?name=x`)).status).toBe(403);
    const store = mesh.info.stores as string;
    const evil = await request(`${store}/stores/carts/keys/evil`, { method: 'PUT', body: 'x' });
    expect(evil.statusCode).toBe(403);
    await evil.body.dump();
    const upload = await request(`${store}/modules`, { method: 'POST', body: 'x' });
    expect(upload.statusCode).toBe(403);
    await upload.body.dump();
    // Inside the mesh every hop is mTLS, the cart's store included, and the application's traffic is as sent.
    const added = await get(`${proxies.device}/cart/ada/items`, { method: 'POST', body: 'sku=pen&qty=1' });
    expect(added.status).toBe(200);
    // Every node holds a certificate, and the status says until when.
    const status = (await admin('/api/status')) as { nodes: { id: string; certExpires: string | null }[] };
    for (const n of status.nodes) expect(Date.parse(n.certExpires ?? '')).toBeGreaterThan(Date.now());
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

  it('restarts a sidecar that dies on the same address, and it routes the examples again', async () => {
    const killed = kill('edge-proxy');
    const restarted = await restartOf('edge-proxy');
    expect(logged().filter((e) => e.event === 'exited')).toEqual([
      expect.objectContaining({
        node: 'edge-proxy',
        pid: killed,
        reason: 'signal SIGKILL',
        restartInMs: 100,
      }),
    ]);
    expect(restarted).toMatchObject({ reason: 'signal SIGKILL', restarts: 1 });
    expect(restarted.pid).not.toBe(killed);
    // It subscribes again as the same node with the same token, and gets its routes from the snapshot.
    const hello = await until('GET /hello through the restarted sidecar', async () => {
      const res = await get(`${proxies.edge}/hello?name=again`);
      return res.status === 200 ? res : undefined;
    });
    expect(JSON.parse(hello.body).message).toBe('Hello, again!');
    const { nodes } = (await admin('/api/status')) as { nodes: { id: string; connected: boolean }[] };
    expect(nodes.filter((n) => n.id === 'edge-proxy')).toEqual([
      expect.objectContaining({ connected: true }),
    ]);
  }, 60_000);

  it('restarts the control plane from its state on disk, and every node subscribes again', async () => {
    const before = (await admin('/api/status')) as { nodes: { id: string }[] };
    kill('control-plane');
    expect(await restartOf('control-plane')).toMatchObject({ reason: 'signal SIGKILL', restarts: 1 });
    const nodes = await until('every node to subscribe again', async () => {
      const status = (await admin('/api/status')) as { nodes: { id: string; connected: boolean }[] };
      return status.nodes.every((n) => n.connected) ? status.nodes : undefined;
    });
    expect(nodes.map((n) => n.id).sort()).toEqual(before.nodes.map((n) => n.id).sort());
    const { endpoints } = (await admin('/api/endpoints')) as { endpoints: { name: string }[] };
    expect(endpoints.map((e) => e.name).sort()).toEqual(['cart', 'checkout', 'hello', 'pricing', 'resize']);
    expect((await get(`${proxies.cluster}/hello?name=roam`)).status).toBe(200);
  }, 60_000);

  it('roam migrate wins over the loop, waits for the move, printing each step and the outcome, and pins (issue 18, point 3)', async () => {
    type Endpoints = { endpoints: { name: string; placement: string[] }[] };
    const placementOfHello = async () =>
      ((await admin('/api/endpoints')) as Endpoints).endpoints.find((e) => e.name === 'hello')!.placement;
    const dashboard = new URL(mesh.info.dashboard as string);
    const cli = (...args: string[]) =>
      execFileAsync(
        process.execPath,
        [
          join(ROOT, 'bin/roam.ts'),
          ...args,
          '--control-plane',
          dashboard.origin,
          '--token',
          dashboard.searchParams.get('token')!,
        ],
        { timeout: 90_000 },
      );
    // No pause first: the operator's move wins over any move the placement loop has in flight.
    const from = await placementOfHello();
    // Any node hello is not on now (hosts first; a proxy's embedded host runs endpoints too).
    const { nodes } = (await admin('/api/hosts')) as { nodes: { id: string; kind: string }[] };
    const candidates = nodes.filter((n) => !from.includes(n.id));
    const to = (candidates.find((n) => n.kind === 'host') ?? candidates[0])!.id;
    const { stdout } = await cli('migrate', 'hello', '--to', to);
    expect(stdout).toMatch(/^migration \d+ of hello:/);
    expect(stdout).toMatch(/ s {2}prepare\n/);
    expect(stdout).toMatch(/\bdone\b/);
    expect(stdout).toMatch(/hello is pinned until resumed: `roam resume hello` hands it back/);
    expect(await placementOfHello()).toEqual([to]);
    expect((await cli('endpoints')).stdout).toMatch(/\bhello\b.*\buntil resumed\b/);
    await cli('resume', 'hello');
    expect((await cli('endpoints')).stdout).not.toMatch(/until resumed/);
  }, 120_000);

  it('stops every process on Ctrl-C, restarted ones included, and restarts none of them', async () => {
    const running = Object.values(currentPids()).map((pid) => ({ pid, command: commandLine(pid) }));
    expect(running.filter((p) => p.command === '')).toEqual([]);
    const restarts = logged().filter((e) => e.event === 'restarted').length;
    expect(await mesh.stop('SIGINT')).toBe(0);
    for (const url of Object.values(proxies)) {
      await expect(request(`${url}/hello`)).rejects.toThrow(/ECONNREFUSED/);
    }
    expect(running.filter((p) => commandLine(p.pid) === p.command)).toEqual([]);
    expect(logged().filter((e) => e.event === 'restarted')).toHaveLength(restarts);
  }, 60_000);
});
