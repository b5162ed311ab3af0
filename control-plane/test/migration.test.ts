// Live migration end to end, with real processes under steady load: an endpoint travels in-process -> cluster
// -> edge -> device -> in-process with no failed request; a target killed during a stepped shift rolls the move
// back with no failed idempotent request; two endpoints move at once while one of them rolls out a new version.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  type Json,
  meshNodeEnv,
  startControlPlane,
  startStoreHost,
  until,
} from '../../test/support/control-plane.ts';
import { endpointModule } from '../../test/support/modules.ts';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import type { MigrationRecord } from '../migration.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'roam-migrate-'));
let cp: RoamProcess;
let proxy: RoamProcess;
let adminToken = '';
let secret = '';
const hosts: Record<string, RoamProcess> = {};
const admin = adminClient(
  () => cp.url,
  () => adminToken,
);

async function startNode(id: string, tier: string, grpc: string, storage: string): Promise<RoamProcess> {
  return startRoam(
    [
      'host',
      '--tier',
      tier,
      '--id',
      id,
      '--location',
      `site-${tier}`,
      '--listen',
      '127.0.0.1:0',
      '--store',
      `carts=${storage}`,
      '--control-plane',
      grpc,
    ],
    nodeEnv(id),
  );
}

/** A node's credential and the mesh CA it checks the control plane with (mTLS is on). */
const nodeEnv = (id: string) => meshNodeEnv(secret, dataDir, id);

/** GETs through the proxy from several loops until stopped; every answer is checked, not only its status. */
function steadyLoad(paths: { path: string; check: (body: string) => boolean }[], concurrency = 4) {
  let running = true;
  const stats = { ok: 0, failed: [] as string[] };
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    let n = i;
    while (running) {
      const p = paths[n++ % paths.length]!;
      try {
        const res = await request(`${proxy.url}${p.path}`);
        const body = await res.body.text();
        if (res.statusCode === 200 && p.check(body)) stats.ok++;
        else stats.failed.push(`${p.path}: ${res.statusCode} ${body}`);
      } catch (err) {
        stats.failed.push(`${p.path}: ${(err as Error).message}`);
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

const HELLO = {
  path: '/hello?name=roam',
  check: (b: string) => JSON.parse(b).message === 'Hello, roam!',
};
const CART = { path: '/cart/ada', check: (b: string) => Array.isArray(JSON.parse(b).items) };

async function migrate(endpoint: string, to: string | string[], shift?: unknown): Promise<MigrationRecord> {
  const res = await admin('POST', '/api/migrate', { endpoint, to, ...(shift ? { shift } : {}) });
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  return res.json.migration;
}

async function finished(id: number): Promise<MigrationRecord> {
  let done: MigrationRecord | undefined;
  await until(`migration ${id} to finish`, async () => {
    const { json } = await admin('GET', '/api/migrations');
    done = (json.recent as MigrationRecord[]).find((m) => m.id === id);
    return done !== undefined;
  });
  return done!;
}

/** The targets the proxy routes `endpoint` to now, from its admin /config. */
async function proxyTargets(endpoint: string): Promise<string[]> {
  const res = await request(`http://${proxy.info.admin}/config`);
  const { config } = (await res.body.json()) as Json;
  return (config.endpoints[endpoint]?.targets ?? []).map((t: Json) => (t.kind === 'local' ? 'local' : t.id));
}

async function restartableControlPlane(grpc: string, adminAt: string): Promise<RoamProcess> {
  const started = await startControlPlane(dataDir, [
    '--grpc',
    grpc,
    '--admin',
    adminAt,
    // Heartbeats go every second: a little over two missed ones marks a node down.
    '--node-timeout-ms',
    '2500',
    '--placement-loop',
    'off',
  ]);
  adminToken = started.adminToken;
  secret = started.secret;
  return started.process;
}

beforeAll(async () => {
  cp = await restartableControlPlane('127.0.0.1:0', '127.0.0.1:0');
  // The carts store's host is a mesh node for its certificate only: every hop, the store's included, is mTLS.
  const storage = await startStoreHost(cp.info.grpc as string, nodeEnv('storage'));
  const grpc = cp.info.grpc as string;
  hosts.c1 = await startNode('c1', 'cluster', grpc, storage.url);
  hosts.e1 = await startNode('e1', 'edge', grpc, storage.url);
  hosts.d1 = await startNode('d1', 'device', grpc, storage.url);
  hosts.x1 = await startNode('x1', 'cluster', grpc, storage.url);
  proxy = await startRoam(
    [
      'proxy',
      '--id',
      'p1',
      '--location',
      'site-entry',
      '--listen',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--store',
      `carts=${storage.url}`,
      '--control-plane',
      grpc,
    ],
    nodeEnv('p1'),
  );
  await until(
    'five nodes to subscribe',
    async () => (await admin('GET', '/api/status')).json.nodes.length === 5,
  );
  for (const [endpoint, route] of [
    ['hello', 'GET /hello'],
    ['cart', '* /cart/*'],
  ] as const) {
    const up = await admin('POST', '/api/modules', endpointModule(endpoint));
    const dep = await admin('POST', '/api/deploy', {
      endpoint,
      digest: up.json.digest,
      routes: [{ match: route }],
      policy: { forbiddenTiers: [] },
    });
    expect(dep.status, JSON.stringify(dep.json)).toBe(200);
    // Start every endpoint on c1 alone, whatever the default placement picked.
    if (JSON.stringify(dep.json.placement) !== '["c1"]') await finished((await migrate(endpoint, 'c1')).id);
  }
  await until(
    'the proxy to route hello and cart',
    async () => (await proxyTargets('cart')).length > 0 && (await proxyTargets('hello')).length > 0,
  );
}, 90_000);

afterAll(async () => {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('live migration', () => {
  it('refuses a move or a policy it cannot carry out, saying why', async () => {
    const unknown = await admin('POST', '/api/migrate', { endpoint: 'hello', to: 'nowhere' });
    expect([unknown.status, unknown.json.error]).toEqual([404, 'ROAM_ERR_NOT_FOUND']);
    const shift = await admin('POST', '/api/migrate', {
      endpoint: 'hello',
      to: 'e1',
      shift: { steps: [0.5] },
    });
    expect(shift.status).toBe(400);
    expect(shift.json.message).toMatch(/shift.steps/);
    const digest = (await admin('GET', '/api/endpoints')).json.endpoints[0].digest;
    const typo = await admin('POST', '/api/deploy', { endpoint: 'hello', digest, policy: { maxReplica: 2 } });
    expect(typo.status).toBe(400);
    expect(typo.json.message).toMatch(/policy.maxReplica/);
    expect((await admin('GET', '/api/migrations')).json.active).toEqual([]);
  });

  it('moves an endpoint in-process -> cluster -> edge -> device -> in-process under load, losing nothing', async () => {
    const load = steadyLoad([HELLO]);
    for (const target of ['p1', 'c1', 'e1', 'd1', 'p1']) {
      const m = await finished((await migrate('hello', target)).id);
      expect(m.outcome, `${target}: ${m.why}`).toBe('done');
      expect(m.steps.map((s) => s.step)).toEqual([
        'prepare',
        'ready',
        'shift',
        'verify',
        'drain',
        'retire',
        'done',
      ]);
      await until(`the proxy to route hello to ${target} only`, async () => {
        const t = await proxyTargets('hello');
        return t.length === 1 && t[0] === (target === 'p1' ? 'local' : target);
      });
    }
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
    expect(stats.ok).toBeGreaterThan(100);
    // The SRE view of the same: placement and finished moves as Prometheus series, no token needed.
    const metrics = await (await request(`${cp.url}/metrics`)).body.text();
    expect(metrics).toMatch(/roam_migrations_total\{[^}]*endpoint="hello"[^}]*outcome="done"[^}]*\} [5-9]/);
    expect(metrics).toMatch(
      /roam_placement_replicas\{[^}]*endpoint="hello"[^}]*host="p1"[^}]*tier="in-process"/,
    );
  }, 120_000);

  it('rolls back when the target dies during a stepped shift, failing no idempotent request', async () => {
    const load = steadyLoad([CART]);
    const m = await migrate('cart', 'x1', { steps: [0.25, 0.5, 1], holdMs: 1500 });
    await until('the shift to start', async () => {
      const { json } = await admin('GET', '/api/migrations');
      return (json.active as MigrationRecord[]).some((a) => a.id === m.id && a.step === 'shift');
    });
    await hosts.x1!.stop('SIGKILL');
    const done = await finished(m.id);
    expect(done.outcome).toBe('rolled-back');
    expect(done.why).toMatch(/x1/);
    await until(
      'the proxy to route cart to c1 only',
      async () => JSON.stringify(await proxyTargets('cart')) === '["c1"]',
    );
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
    const placement = (await admin('GET', '/api/endpoints')).json.endpoints.find(
      (e: Json) => e.name === 'cart',
    ).placement;
    expect(placement).toEqual(['c1']);
  }, 60_000);

  it('moves two endpoints at once while one rolls out a new version: every answer whole, one version at the end', async () => {
    const load = steadyLoad([HELLO, CART]);
    const a = await migrate('hello', 'e1', { steps: [0.5, 1], holdMs: 300 });
    const b = await migrate('cart', 'd1', { steps: [0.5, 1], holdMs: 300 });
    // A second move of an endpoint already moving is refused with the reason.
    const again = await admin('POST', '/api/migrate', { endpoint: 'cart', to: 'e1' });
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/already moving/);
    const v2 = new Uint8Array([...endpointModule('cart'), 0, 4, 1, 118, 2, 2]); // same code, a new digest
    const up = await admin('POST', '/api/modules', v2);
    const dep = await admin('POST', '/api/deploy', { endpoint: 'cart', digest: up.json.digest });
    expect(dep.json.version).toBe(2);
    const [ma, mb] = [await finished(a.id), await finished(b.id)];
    expect([ma.outcome, mb.outcome], `${ma.why} / ${mb.why}`).toEqual(['done', 'done']);
    await until('d1 to run only cart v2', async () => {
      const nodes = (await admin('GET', '/api/hosts')).json.nodes as Json[];
      const carts = nodes
        .filter((n) => n.status === 'up')
        .flatMap((n) =>
          (n.ready as string[]).filter((r) => r.startsWith('cart@')).map((r) => `${n.id}:${r.slice(5)}`),
        );
      return JSON.stringify(carts) === JSON.stringify([`d1:${up.json.digest}`]);
    });
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
  }, 60_000);

  it('moves endpoints off a host that dies; requests in flight to it are retried on another replica', async () => {
    // hello runs on e1 (the previous test moved it there); give it a second replica on c1, then kill e1.
    const both = await finished((await migrate('hello', ['e1', 'c1'])).id);
    expect(both.outcome, both.why).toBe('done');
    await until('the proxy to route hello to both', async () => (await proxyTargets('hello')).length === 2);
    const load = steadyLoad([HELLO]);
    await new Promise((r) => setTimeout(r, 200));
    await hosts.e1!.stop('SIGKILL');
    await until('hello to be placed on c1 alone', async () => {
      const eps = (await admin('GET', '/api/endpoints')).json.endpoints as Json[];
      return JSON.stringify(eps.find((e) => e.name === 'hello')!.placement) === '["c1"]';
    });
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
    const history = (await admin('GET', '/api/history?endpoint=hello')).json.history as Json[];
    expect(history.some((h) => h.action === 'migration-start' && h.detail.reason === 'host-down:e1')).toBe(
      true,
    );
  }, 60_000);

  it('resumes a move after a control-plane restart mid-shift and finishes it, losing nothing', async () => {
    const load = steadyLoad([CART]);
    const m = await migrate('cart', 'c1', { steps: [0.5, 1], holdMs: 2000 });
    await until('the shift to start', async () => {
      const { json } = await admin('GET', '/api/migrations');
      return (json.active as MigrationRecord[]).some((a) => a.id === m.id && a.step === 'shift');
    });
    const grpc = cp.info.grpc as string;
    await cp.stop('SIGTERM');
    cp = await restartableControlPlane(grpc, cp.address);
    const done = await finished(m.id);
    expect(done.outcome, done.why).toBe('done');
    expect(done.steps.map((s) => s.step)).toEqual([
      'prepare',
      'ready',
      'shift',
      'shift',
      'verify',
      'drain',
      'retire',
      'done',
    ]);
    await until(
      'the proxy to route cart to c1 only',
      async () => JSON.stringify(await proxyTargets('cart')) === '["c1"]',
    );
    const stats = await load.stop();
    expect(stats.failed).toEqual([]);
  }, 60_000);
});
