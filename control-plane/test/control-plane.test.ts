// The control plane end to end, with real processes on loopback: a control plane, two proxies and three hosts.
// Deploys reach every node make-before-break; a new version rolls out under steady load with no failed
// request; a snapshot a host cannot apply is NACKed and traffic keeps flowing; the control plane can be
// killed and restarted mid-load; a host that dies is marked down and taken out of the routes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, meshNodeEnv, startStoreHost, until } from '../../test/support/control-plane.ts';
import { endpointModule, fixtureModule } from '../../test/support/modules.ts';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import { State } from '../state.ts';

const execFileAsync = promisify(execFile);

const dataDir = mkdtempSync(join(tmpdir(), 'roam-cp-'));
const root = new URL('../../', import.meta.url).pathname;
const ROAM = `${root}bin/roam.ts`;
let cp: RoamProcess;
let adminToken = '';
const admin = adminClient(
  () => cp.url,
  () => adminToken,
);
let secret = '';
const proxies: RoamProcess[] = [];
const hosts: Record<string, RoamProcess> = {};
let storage: RoamProcess;

async function startControlPlane(): Promise<RoamProcess> {
  const grpcPort = cp ? (cp.info.grpc as string).split(':')[1] : '0';
  const adminAddr = cp ? cp.address : '127.0.0.1:0';
  return startRoam([
    'control-plane',
    '--grpc',
    `127.0.0.1:${grpcPort}`,
    '--admin',
    adminAddr,
    '--data-dir',
    dataDir,
    '--node-timeout-ms',
    '1500',
    // Placement here is the test's own (deploys and migrations); the loop has its own tests.
    '--placement-loop',
    'off',
  ]);
}

async function deploy(endpoint: string, bytes: Uint8Array, routes?: string[]) {
  const up = await admin('POST', '/api/modules', bytes);
  expect(up.status, JSON.stringify(up.json)).toBe(201);
  const res = await admin('POST', '/api/deploy', {
    endpoint,
    digest: up.json.digest,
    ...(routes ? { routes: routes.map((match) => ({ match })) } : {}),
  });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return { digest: up.json.digest as string, version: res.json.version as number };
}

async function allInSync(): Promise<boolean> {
  const { json } = await admin('GET', '/api/status');
  return json.nodes.every((n: { inSync: boolean; status: string }) => n.status !== 'up' || n.inSync);
}

/** Sends GET /cart/ada through both proxies in a loop until stopped; counts failures. */
function steadyLoad() {
  let running = true;
  const stats = { ok: 0, failed: [] as string[] };
  const loops = proxies.map(async (p) => {
    while (running) {
      try {
        const res = await request(`${p.url}/cart/ada`);
        const body = await res.body.text();
        if (res.statusCode === 200) stats.ok++;
        else stats.failed.push(`${res.statusCode} ${body}`);
      } catch (err) {
        stats.failed.push((err as Error).message);
      }
    }
  });
  return {
    stats,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

/** The cart module with a custom section appended: same code, another digest (a new version). */
function cartVariant(n: number): Uint8Array {
  const base = endpointModule('cart');
  const out = new Uint8Array(base.length + 6);
  out.set(base);
  out.set([0, 4, 1, 118, n, n], base.length); // custom section "v" with two bytes
  return out;
}

/** A node's credential and the mesh CA it checks the control plane with (mTLS is on). */
const nodeEnv = (id: string) => meshNodeEnv(secret, dataDir, id);

beforeAll(async () => {
  cp = await startControlPlane();
  adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const state = new State(dataDir);
  secret = state.secret();
  state.close();
  const grpc = cp.info.grpc as string;
  // The carts store's host is a mesh node for its certificate only: every hop, the store's included, is mTLS.
  storage = await startStoreHost(grpc, nodeEnv('storage'));
  for (const [id, tier] of [
    ['h1', 'cluster'],
    ['h2', 'cluster'],
    ['e1', 'edge'],
  ] as const) {
    hosts[id] = await startRoam(
      [
        'host',
        '--tier',
        tier,
        '--id',
        id,
        '--listen',
        '127.0.0.1:0',
        '--store',
        `carts=${storage.url}`,
        '--control-plane',
        grpc,
      ],
      nodeEnv(id),
    );
  }
  for (const id of ['p1', 'p2']) {
    proxies.push(
      await startRoam(
        ['proxy', '--id', id, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--control-plane', grpc],
        nodeEnv(id),
      ),
    );
  }
  await until(
    'all five nodes to subscribe',
    async () => (await admin('GET', '/api/status')).json.nodes.length === 5,
  );
}, 60_000);

afterAll(async () => {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('control plane', () => {
  it('refuses calls without the admin token, and modules that break the ABI, with the reason', async () => {
    const res = await request(`${cp.url}/api/status`);
    expect(res.statusCode).toBe(401);
    await res.body.dump();
    const bad = await admin('POST', '/api/modules', fixtureModule('badimport'));
    expect(bad.status).toBe(422);
    expect(bad.json.message).toContain('roam.open_socket');
    const notWasm = await admin('POST', '/api/modules', new TextEncoder().encode('nope'));
    expect(notWasm.status).toBe(422);
    const badRoute = await admin('POST', '/api/deploy', {
      endpoint: 'x',
      digest: 'sha256:0',
      routes: [{ match: 'GET nope' }],
    });
    expect(badRoute.status).toBe(400);
  });

  it('lets no node subscribe as another node', async () => {
    const impostor = await startRoam(
      [
        'host',
        '--tier',
        'edge',
        '--id',
        'h2',
        '--listen',
        '127.0.0.1:0',
        '--control-plane',
        cp.info.grpc as string,
      ],
      nodeEnv('e1'),
    );
    await until('the control plane to refuse the impostor', async () =>
      /PERMISSION_DENIED: token is for node \\"e1\\", not \\"h2\\"/.test(impostor.stderr()),
    );
    await impostor.stop();
    const garbage = await startRoam(
      ['proxy', '--id', 'p9', '--listen', '127.0.0.1:0', '--control-plane', cp.info.grpc as string],
      { ...nodeEnv('p9'), ROAM_NODE_TOKEN: 'p9.not-a-valid-mac' },
    );
    await until('the control plane to refuse a bad token', async () =>
      garbage.stderr().includes('UNAUTHENTICATED: missing or invalid node token'),
    );
    await garbage.stop();
    const nodes = (await admin('GET', '/api/status')).json.nodes.map((n: { id: string }) => n.id);
    expect(nodes).not.toContain('p9');
  });

  it('deploys an endpoint to the cluster hosts, then routes it on every proxy', async () => {
    const { version } = await deploy('cart', cartVariant(1), ['* /cart/*']);
    expect(version).toBe(1);
    await until('both proxies to serve /cart', async () => {
      for (const p of proxies) {
        const res = await request(`${p.url}/cart/ada/items`, { method: 'POST', body: 'sku=book&qty=1' });
        await res.body.dump();
        if (res.statusCode !== 200) return false;
      }
      return true;
    });
    await until('every node in sync', allInSync);
    const eps = (await admin('GET', '/api/endpoints')).json.endpoints;
    expect(eps[0]).toMatchObject({ name: 'cart', version: 1, placement: ['h1', 'h2'] });
    // Heartbeats carry each node's load.
    await until('heartbeats with load', async () =>
      (await admin('GET', '/api/status')).json.nodes.every(
        (n: { load: { memoryMib: number } | null }) => (n.load?.memoryMib ?? 0) > 0,
      ),
    );
  });

  it('rolls out a new version under steady load with no failed request', async () => {
    const load = steadyLoad();
    await new Promise((r) => setTimeout(r, 200));
    const { version, digest } = await deploy('cart', cartVariant(2));
    expect(version).toBe(2);
    await until('hosts to run version 2', async () => {
      const nodes = (await admin('GET', '/api/hosts')).json.nodes;
      return ['h1', 'h2'].every((id) =>
        nodes.find((n: { id: string }) => n.id === id).ready.includes(`cart@${digest}`),
      );
    });
    // Load on both sides of the switch: requests before the rollout, and a few more once every host runs it.
    const atSwitch = load.stats.ok;
    await until('requests on version 2', async () => load.stats.ok >= atSwitch + 10);
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
    expect(atSwitch).toBeGreaterThan(0);
  });

  it('keeps traffic flowing when a host NACKs a snapshot it cannot apply', async () => {
    const load = steadyLoad();
    await deploy('broken', fixtureModule('startfail'), ['GET /broken']);
    await until('a NACK in the history', async () =>
      (await admin('GET', '/api/history')).json.history.some((h: { action: string }) => h.action === 'nack'),
    );
    const nack = (await admin('GET', '/api/history')).json.history.find(
      (h: { action: string }) => h.action === 'nack',
    );
    expect(nack.detail.reason).toContain('unreachable');
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
    // A fixed version is how an operator gets out of it: the hosts apply it and are in sync again.
    await deploy('broken', endpointModule('hello'));
    await until('every node in sync', allInSync);
  });

  it('survives a control plane restart mid-load: no failed request, same state and versions after', async () => {
    await until('every node in sync', allInSync);
    const before = (await admin('GET', '/api/status')).json.nodes.map(
      (n: { id: string; appliedVersion: number }) => [n.id, n.appliedVersion],
    );
    const load = steadyLoad();
    await cp.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    cp = await startControlPlane();
    await until('every node to resubscribe', async () => {
      const nodes = (await admin('GET', '/api/status')).json.nodes;
      return nodes.filter((n: { connected: boolean }) => n.connected).length === 5;
    });
    await until('every node in sync', allInSync);
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
    const after = (await admin('GET', '/api/status')).json.nodes.map(
      (n: { id: string; appliedVersion: number }) => [n.id, n.appliedVersion],
    );
    expect(after).toEqual(before);
    const eps = (await admin('GET', '/api/endpoints')).json.endpoints;
    expect(eps.find((e: { name: string }) => e.name === 'cart')).toMatchObject({ version: 2 });
  });

  it('marks a host that dies as down and takes it out of the routes', async () => {
    const load = steadyLoad();
    await hosts.h1!.stop('SIGKILL');
    await until('h1 to be marked down', async () =>
      (await admin('GET', '/api/status')).json.nodes.some(
        (n: { id: string; status: string }) => n.id === 'h1' && n.status === 'down',
      ),
    );
    await until('proxies to route without h1', allInSync);
    const stats = await load.stop();
    // Idempotent requests in flight to the dead host are retried on h2; none fails.
    expect(stats.failed).toEqual([]);
    const history = (await admin('GET', '/api/history')).json.history;
    expect(
      history.some(
        (h: { action: string; detail: { node: string } }) =>
          h.action === 'node-down' && h.detail.node === 'h1',
      ),
    ).toBe(true);
  });

  it('answers the roam CLI with tables and JSON', async () => {
    const env = { ROAM_CONTROL_PLANE: cp.url, ROAM_TOKEN: adminToken };
    // Asynchronous on purpose: a blocked event loop would keep the test's pooled keep-alive sockets from
    // noticing that the control plane closed them while idle.
    const run = async (args: string[]) =>
      (
        await execFileAsync(process.execPath, [ROAM, ...args], {
          env: { ...process.env, ...env },
          encoding: 'utf8',
        })
      ).stdout;
    const deployed = JSON.parse(
      await run([
        'deploy',
        `${root}build/endpoints/hello.wasm`,
        '--endpoint',
        'hello',
        '--route',
        'GET /hello',
        '--json',
      ]),
    );
    expect(deployed).toMatchObject({ endpoint: 'hello', version: 1 });
    expect(await run(['endpoints'])).toMatch(/^ENDPOINT\s+VERSION\s+DIGEST/);
    expect(await run(['endpoints'])).toMatch(/hello\s+1\s+sha256:/);
    expect(await run(['hosts'])).toMatch(/h2\s+host\s+cluster/);
    const h2 = JSON.parse(await run(['hosts', '--json'])).nodes.find((n: { id: string }) => n.id === 'h2');
    expect(h2.stores).toEqual([{ name: 'carts', location: new URL(storage.url).host, kind: 'remote' }]);
    expect(await run(['status'])).toMatch(/p1\s+proxy/);
    expect(await run(['history', 'hello'])).toMatch(/deploy\s+hello/);
    await expect(run(['rollback', 'hello'])).rejects.toThrow(/no version 0/);
  });

  it('refuses a bad loop flag before it listens: exit 2 naming the flag, no process left serving', async () => {
    const refused = (args: string[]) =>
      execFileAsync(
        process.execPath,
        [ROAM, 'control-plane', ...args, '--data-dir', join(dataDir, 'refused')],
        {
          timeout: 20_000,
        },
      ).catch((err: { code: number; stderr: string }) => err);
    for (const [args, message] of [
      [
        ['--profile-half-life-ms', '10'],
        '--profile-half-life-ms expects an integer of at least 1000, got "10"',
      ],
      [['--loop-period-ms', '50'], '--loop-period-ms expects an integer of at least 100, got "50"'],
      [['--placement-loop', 'maybe'], '--placement-loop expects on or off, got "maybe"'],
    ] as const) {
      const failed = await refused([...args]);
      expect(failed).toMatchObject({ code: 2 });
      expect((failed as { stderr: string }).stderr).toContain(message);
    }
  });

  it('keeps endpoints within their policy, and says why when nothing fits', async () => {
    const up = await admin('POST', '/api/modules', endpointModule('hello'));
    const gpu = await admin('POST', '/api/deploy', {
      endpoint: 'render',
      digest: up.json.digest,
      policy: { requires: ['gpu'] },
    });
    expect(gpu.status).toBe(409);
    expect(gpu.json.message).toMatch(/no host can run "render": .*lacks gpu/);
    const edgeOnly = await admin('POST', '/api/deploy', {
      endpoint: 'greeter',
      digest: up.json.digest,
      policy: { pinnedTier: 'edge' },
    });
    expect(edgeOnly.json.placement).toEqual(['e1']);
    const wrongTier = await admin('POST', '/api/migrate', { endpoint: 'greeter', to: 'h2' });
    expect(wrongTier.status).toBe(409);
    expect(wrongTier.json.message).toContain('pinned to edge');
  });

  it("carries an endpoint's caller policy to every proxy, and refuses a malformed one naming it (issue 17)", async () => {
    const up = await admin('POST', '/api/modules', endpointModule('hello'));
    const bad = await admin('POST', '/api/deploy', {
      endpoint: 'guarded',
      digest: up.json.digest,
      policy: { callers: { roles: ['admin'] } },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/"policy\.callers".*"roles" is not one of them/);
    const ok = await admin('POST', '/api/deploy', {
      endpoint: 'guarded',
      digest: up.json.digest,
      routes: [{ match: 'GET /guarded' }],
      policy: { callers: { tiers: ['edge'], identities: ['p2'] } },
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    await until('every proxy to hold the caller policy', async () => {
      for (const p of proxies) {
        const res = await request(`http://${p.info.admin}/config`);
        const { config } = (await res.body.json()) as {
          config: { endpoints: Record<string, { callers?: unknown }> };
        };
        if (JSON.stringify(config.endpoints.guarded?.callers) !== '{"identities":["p2"],"tiers":["edge"]}')
          return false;
      }
      return true;
    });
  });

  it('migrates an endpoint to another host, make before break', async () => {
    const load = steadyLoad();
    const res = await admin('POST', '/api/migrate', { endpoint: 'cart', to: 'e1' });
    expect(res.status).toBe(202);
    await until('e1 to run cart and proxies to route only there', async () => {
      const snapshotNodes = (await admin('GET', '/api/hosts')).json.nodes;
      const e1 = snapshotNodes.find((n: { id: string }) => n.id === 'e1');
      const h2 = snapshotNodes.find((n: { id: string }) => n.id === 'h2');
      return (
        e1.ready.some((r: string) => r.startsWith('cart@')) &&
        !h2.ready.some((r: string) => r.startsWith('cart@'))
      );
    });
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
  });
});
