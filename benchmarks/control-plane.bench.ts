// Control-plane figures (README "Figures"): with a control plane, two proxies and three hosts on loopback, the
// time from a deploy returning (a) to the last proxy acknowledging the snapshot that routes a new endpoint
// (hosts fetch, compile and warm the module first: make before break), and (b) to every placed host running
// a new version of an existing endpoint. Medians over repeated deploys.
// Run: npm run bench -- control-plane [--quick]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startRoam, stopAll } from '../cli/spawn.ts';
import { nodeToken } from '../control-plane/auth.ts';
import { startControlPlane } from '../test/support/control-plane.ts';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 15;
const root = new URL('../', import.meta.url).pathname;
const hello = readFileSync(`${root}build/endpoints/hello.wasm`);
const dataDir = mkdtempSync(join(tmpdir(), 'roam-cp-bench-'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const {
    process: cp,
    adminToken: token,
    secret,
  } = await startControlPlane(dataDir, ['--placement-loop', 'off']);
  const grpc = cp.info.grpc as string;
  for (const [id, tier] of [
    ['h1', 'cluster'],
    ['h2', 'cluster'],
    ['e1', 'edge'],
  ]) {
    await startRoam(
      ['host', '--tier', tier!, '--id', id!, '--listen', '127.0.0.1:0', '--control-plane', grpc],
      {
        ROAM_NODE_TOKEN: nodeToken(secret, id!),
        ROAM_CA: join(dataDir, 'ca.pem'),
      },
    );
  }
  for (const id of ['p1', 'p2']) {
    await startRoam(['proxy', '--id', id, '--listen', '127.0.0.1:0', '--control-plane', grpc], {
      ROAM_NODE_TOKEN: nodeToken(secret, id),
      ROAM_CA: join(dataDir, 'ca.pem'),
    });
  }
  const admin = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await request(`${cp.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the benchmark reads the admin API's JSON loosely.
    return (await res.body.json()) as Record<string, any>;
  };
  while ((await admin('GET', '/api/status')).nodes.length < 5) await new Promise((r) => setTimeout(r, 20));
  const waitFor = async (check: () => Promise<boolean>) => {
    while (!(await check())) await new Promise((r) => setTimeout(r, 1));
  };

  const newEndpoint: number[] = [];
  const newVersion: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // (a) a new endpoint: hosts warm it, then every proxy routes it.
    const unique = new Uint8Array(hello.length + 6);
    unique.set(hello);
    unique.set([0, 4, 1, 118, i, 1], hello.length);
    const { digest } = await admin('POST', '/api/modules', unique);
    type Node = { id: string; kind: string; inSync: boolean; appliedVersion: number };
    const proxies = async () =>
      ((await admin('GET', '/api/status')).nodes as Node[]).filter((n) => n.kind === 'proxy');
    const before = new Map((await proxies()).map((p) => [p.id, p.appliedVersion]));
    await admin('POST', '/api/deploy', { endpoint: `e${i}`, digest, routes: [{ match: `GET /e${i}` }] });
    let t = performance.now();
    // Proxies get a new snapshot only once a host reports the endpoint ready; wait for every ACK of it.
    await waitFor(async () =>
      (await proxies()).every((p) => p.inSync && p.appliedVersion > before.get(p.id)!),
    );
    newEndpoint.push(performance.now() - t);

    // (b) a new version of that endpoint: the placed hosts swap to it (proxies need no change).
    const v2 = new Uint8Array(unique);
    v2[v2.length - 1] = 2;
    const up = await admin('POST', '/api/modules', v2);
    await admin('POST', '/api/deploy', { endpoint: `e${i}`, digest: up.digest });
    t = performance.now();
    await waitFor(async () => {
      const nodes = (await admin('GET', '/api/hosts')).nodes as { id: string; ready: string[] }[];
      return ['h1', 'h2'].every((id) => nodes.find((n) => n.id === id)!.ready.includes(`e${i}@${up.digest}`));
    });
    newVersion.push(performance.now() - t);
  }
  console.log(`\nControl plane rollout (2 proxies, 3 hosts, loopback; median of ${ROUNDS} deploys)`);
  console.table([
    {
      rollout: 'new endpoint: deploy returned -> last proxy ACKs its route',
      'median (ms)': median(newEndpoint).toFixed(1),
    },
    {
      rollout: 'new version: deploy returned -> every placed host runs it',
      'median (ms)': median(newVersion).toFixed(1),
    },
  ]);
}

try {
  await main();
} finally {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
}
