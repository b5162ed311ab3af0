// What mesh mTLS costs (issue 17): requests/s through a proxy to a standalone host over kept-alive
// connections with the proxy -> host hop in mutual TLS against plaintext, and the cost of a new connection
// (handshake and first request) either way. The host runs in a process of its own on one core (two of them:
// one holding a mesh identity, one not), the proxy and the load on the other, as a sidecar and its host would.
// Rounds alternate on/off (on, off, off, on, ...) so drift on a noisy machine falls on both sides; medians
// and their ratio are printed.
// Run: npx node benchmarks/mtls.bench.ts [--quick]   (or npm run bench -- mtls)
import type { ChildProcess } from 'node:child_process';
import { Client, Pool } from 'undici';
import { MeshIdentity, setMeshIdentity } from '../core/mesh-identity.ts';
import { SidecarProxy } from '../proxy/index.ts';
import { issue, makeCa } from '../test/support/pki.ts';
import { startPinned } from './support/processes.ts';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 5;
const ROUND_MS = quick ? 1000 : 2500;
const CONCURRENCY = 32;
const HANDSHAKES = quick ? 100 : 300;

const ca = await makeCa('roam-bench.local');
const identity = new MeshIdentity(await issue(ca, { nodeId: 'bench-proxy' }));
const hostMaterial = await issue(ca, { nodeId: 'bench-host' });
const children: ChildProcess[] = [];
const hostScript = new URL('./support/mesh-host.ts', import.meta.url).pathname;
const startHost = async (env: Record<string, string> = {}) =>
  `http://${(await startPinned(children, 1, [process.execPath, hostScript], env)).info.address}`;
const hosts = {
  on: await startHost({
    MESH_KEY: hostMaterial.keyPem,
    MESH_CERT: hostMaterial.certPem,
    MESH_CA: hostMaterial.caPem,
  }),
  off: await startHost(),
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Requests/s through a fresh proxy (fresh connections to the host) with mTLS on or off. */
async function throughput(mtls: boolean): Promise<number> {
  setMeshIdentity(mtls ? identity : undefined);
  const proxy = new SidecarProxy({ id: 'bench' });
  await proxy.applyRoutes({
    version: 1,
    routes: [{ match: 'GET /hello', endpoint: 'hello' }],
    endpoints: { hello: { targets: [{ kind: 'host', url: mtls ? hosts.on : hosts.off, weight: 1 }] } },
  });
  const addr = await proxy.listen(0, '127.0.0.1');
  const pool = new Pool(`http://127.0.0.1:${addr.port}`, { connections: CONCURRENCY });
  const one = async () => {
    const res = await pool.request({ method: 'GET', path: '/hello?name=bench' });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  // Warm: every connection open, the module's instances warm.
  await Promise.all(Array.from({ length: CONCURRENCY * 4 }, one));
  let done = 0;
  const until = performance.now() + ROUND_MS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await one();
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - started) / 1000);
  await pool.close();
  await proxy.drain(100);
  return rate;
}

/** Median ms to open a new connection to the host and get an answer from it (TLS handshake included when on). */
async function newConnection(mtls: boolean): Promise<number> {
  setMeshIdentity(mtls ? identity : undefined);
  const times: number[] = [];
  for (let i = 0; i < HANDSHAKES; i++) {
    const t0 = performance.now();
    const client = new Client(mtls ? hosts.on.replace('http:', 'https:') : hosts.off, {
      connect: mtls
        ? {
            key: identity.keyPem,
            cert: identity.certPem,
            ca: identity.caPem,
            checkServerIdentity: () => undefined,
          }
        : {},
    });
    const res = await client.request({ method: 'GET', path: '/.roam/ping' });
    await res.body.dump();
    times.push(performance.now() - t0);
    await client.close();
  }
  return median(times);
}

const on: number[] = [];
const off: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? [true, false] : [false, true];
  for (const mtls of order) (mtls ? on : off).push(await throughput(mtls));
}
const handshakeOn = await newConnection(true);
const handshakeOff = await newConnection(false);
const handshakeOn2 = await newConnection(true);
setMeshIdentity(undefined);
for (const c of children) c.kill();

const ratio = median(on) / median(off);
console.log(
  `\nmTLS (proxy -> host hop, kept-alive, ${CONCURRENCY} concurrent, ${ROUNDS} alternating rounds of ${ROUND_MS} ms)`,
);
console.log(
  `  mTLS off: ${median(off).toFixed(0)} req/s median (${off.map((x) => x.toFixed(0)).join(', ')})`,
);
console.log(`  mTLS on:  ${median(on).toFixed(0)} req/s median (${on.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`  ratio on/off: ${ratio.toFixed(2)}x (aim >= 0.85x: ${ratio >= 0.85 ? 'met' : 'NOT met'})`);
console.log(
  `  new connection + first answer: ${median([handshakeOn, handshakeOn2]).toFixed(2)} ms with mTLS, ${handshakeOff.toFixed(2)} ms without (median of ${HANDSHAKES}, twice for mTLS)`,
);
