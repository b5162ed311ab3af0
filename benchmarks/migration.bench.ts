// Live-migration figures (README "Figures"): a control plane, two proxies (each embedding an in-process host)
// and cluster, edge and device hosts on loopback. `hello` travels in-process -> cluster -> edge -> device ->
// in-process, round after round, under steady load through both proxies. Printed: decision (the migrate call
// returned) to every proxy applying 100% on the new target, with the route propagation part of it (shift
// published -> last proxy ACK); the same for a module the target has never seen (fetch + compile + warm
// included); failed requests per million during the moves; p50/p99 during moves against steady state.
// mTLS is on, as in a deployed mesh; `--mtls-off` runs the same with plaintext, for a side-by-side.
// Run: npm run bench -- migration [--quick] [--mtls-off]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { startRoam, stopAll } from '../cli/spawn.ts';
import { nodeToken } from '../control-plane/auth.ts';
import type { MigrationRecord } from '../control-plane/migration.ts';
import { Histogram } from '../core/histogram.ts';
import { adminClient, startControlPlane } from '../test/support/control-plane.ts';

const quick = process.argv.includes('--quick');
const mtls = process.argv.includes('--mtls-off') ? 'off' : 'on';
const ROUNDS = quick ? 8 : 40;
const root = new URL('../', import.meta.url).pathname;
const hello = readFileSync(`${root}build/endpoints/hello.wasm`);
const dataDir = mkdtempSync(join(tmpdir(), 'roam-migration-bench-'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

/** The same module with a custom section appended: another digest the hosts have never seen. */
function variant(n: number): Uint8Array {
  return new Uint8Array([...hello, 0, 5, 1, 118, n & 0xff, (n >> 8) & 0xff, 7]);
}

async function main(): Promise<void> {
  const {
    process: cp,
    adminToken,
    secret,
  } = await startControlPlane(dataDir, ['--placement-loop', 'off', '--mtls', mtls]);
  const call = adminClient(
    () => cp.url,
    () => adminToken,
  );
  const grpc = cp.info.grpc as string;
  // mTLS is on, as in a deployed mesh: nodes check the control plane with the CA it wrote.
  const env = (id: string) => ({
    ROAM_NODE_TOKEN: nodeToken(secret, id),
    ...(mtls === 'on' ? { ROAM_CA: join(dataDir, 'ca.pem') } : {}),
  });
  for (const [id, tier] of [
    ['c1', 'cluster'],
    ['e1', 'edge'],
    ['d1', 'device'],
  ] as const) {
    await startRoam(
      [
        'host',
        '--tier',
        tier,
        '--id',
        id,
        '--location',
        tier,
        '--listen',
        '127.0.0.1:0',
        '--workers',
        '1',
        '--control-plane',
        grpc,
      ],
      env(id),
    );
  }
  const proxies = [];
  for (const id of ['p1', 'p2']) {
    proxies.push(
      await startRoam(
        ['proxy', '--id', id, '--location', id, '--listen', '127.0.0.1:0', '--control-plane', grpc],
        env(id),
      ),
    );
  }
  const admin = async (method: 'GET' | 'POST', path: string, body?: unknown) =>
    (await call(method, path, body)).json;
  const finished = async (id: number): Promise<MigrationRecord> => {
    for (;;) {
      const { recent } = await admin('GET', '/api/migrations');
      const m = (recent as MigrationRecord[]).find((r) => r.id === id);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  for (;;) {
    const { nodes } = await admin('GET', '/api/status');
    if (nodes.length === 5) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const { digest } = await admin('POST', '/api/modules', hello);
  await admin('POST', '/api/deploy', { endpoint: 'hello', digest, routes: [{ match: 'GET /hello' }] });
  await finished((await admin('POST', '/api/migrate', { endpoint: 'hello', to: 'p1' })).migration.id);

  // Steady load: 4 requests in flight per proxy, every answer checked.
  const pools = proxies.map((p) => new Pool(p.url, { connections: 4 }));
  let phase: 'steady' | 'moving' | 'idle' = 'idle';
  const latency = { steady: new Histogram(), moving: new Histogram() };
  const counts = { steady: 0, moving: 0, failed: 0 };
  let running = true;
  const loops = pools.flatMap((pool) =>
    Array.from({ length: 4 }, async () => {
      while (running) {
        const at = phase;
        const start = performance.now();
        try {
          const res = await pool.request({ method: 'GET', path: '/hello?name=bench' });
          const body = await res.body.text();
          if (res.statusCode !== 200 || !body.includes('Hello, bench!'))
            throw new Error(`${res.statusCode} ${body}`);
          if (at !== 'idle') {
            latency[at].record(performance.now() - start);
            counts[at]++;
          }
        } catch (err) {
          if (at !== 'idle') counts.failed++;
          if (counts.failed < 5) console.error(`failed: ${(err as Error).message}`);
        }
      }
    }),
  );

  await new Promise((r) => setTimeout(r, 500));
  phase = 'steady';
  await new Promise((r) => setTimeout(r, quick ? 2000 : 5000));
  phase = 'moving';
  const toFull: number[] = [];
  const propagation: number[] = [];
  const tour = ['c1', 'e1', 'd1', 'p1'];
  for (let i = 0; i < ROUNDS; i++) {
    const started = await admin('POST', '/api/migrate', { endpoint: 'hello', to: tour[i % tour.length] });
    const m = await finished(started.migration.id);
    if (m.outcome !== 'done') throw new Error(`migration ${m.id} ${m.outcome}: ${m.why}`);
    const shiftAt = m.steps.find((s) => s.step === 'shift')!.atMs;
    toFull.push(m.timings.shifted!);
    if (process.env.ROAM_BENCH_DEBUG) console.log(m.to.hosts.join(), JSON.stringify(m.steps));
    propagation.push(m.timings.shifted! - shiftAt);
  }
  phase = 'idle';

  // A module the target has never seen: deploy a fresh digest on c1, then move it to e1.
  const fresh: number[] = [];
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    const name = `fresh${i}`;
    const up = await admin('POST', '/api/modules', variant(i + 1));
    await admin('POST', '/api/deploy', { endpoint: name, digest: up.digest });
    const first = await admin('POST', '/api/migrate', { endpoint: name, to: 'c1' }).catch(() => undefined);
    if (first?.migration) await finished(first.migration.id);
    const m = await finished(
      (await admin('POST', '/api/migrate', { endpoint: name, to: 'e1' })).migration.id,
    );
    fresh.push(m.timings.shifted!);
  }

  running = false;
  await Promise.all(loops);
  await Promise.all(pools.map((p) => p.close()));
  const q = (h: Histogram, p: number) => h.quantile(p).toFixed(2);
  const perMillion = (counts.failed / Math.max(1, counts.moving)) * 1e6;
  console.log(
    `\nlive migration, ${ROUNDS} moves of hello around in-process -> cluster -> edge -> device (medians; mTLS ${mtls})`,
  );
  console.log('| figure | median | aim |');
  console.log('|---|---|---|');
  console.log(
    `| decision -> 100% of traffic on the new target (every proxy applied it) | ${median(toFull).toFixed(1)} ms | < 50 ms |`,
  );
  console.log(
    `| route propagation: shift published -> last proxy ACK | ${median(propagation).toFixed(1)} ms | < 10 ms |`,
  );
  console.log(
    `| decision -> 100% for a module the target never saw (fetch, compile, warm) | ${median(fresh).toFixed(1)} ms | < 50 ms |`,
  );
  console.log(
    `\nrequests during moves: ${counts.moving}, failed: ${counts.failed} (${perMillion.toFixed(1)} per million)`,
  );
  console.log('| phase | requests | p50 | p99 |');
  console.log('|---|---|---|---|');
  console.log(`| steady | ${counts.steady} | ${q(latency.steady, 0.5)} ms | ${q(latency.steady, 0.99)} ms |`);
  console.log(
    `| during moves | ${counts.moving} | ${q(latency.moving, 0.5)} ms | ${q(latency.moving, 0.99)} ms |`,
  );
  console.log(
    `added p99 during moves: ${(latency.moving.quantile(0.99) - latency.steady.quantile(0.99)).toFixed(2)} ms`,
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    await stopAll();
    rmSync(dataDir, { recursive: true, force: true });
  });
