// Wasm host figures (README "Figures"): per-call overhead of an invocation inline, through the worker pool and
// through a standalone host over loopback, against the same logic as a plain JS function; and cold start:
// compile, instantiate, and upload-to-first-answer on a standalone host for a ~100 KB module.
// Run: npm run bench -- host   (or: npx node benchmarks/host.bench.ts)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import asc from 'assemblyscript/asc';
import { Bench } from 'tinybench';
import { Pool } from 'undici';
import { startRoam, stopAll } from '../cli/spawn.ts';
import { type EndpointRequest, WasmHost } from '../wasm-host/index.ts';
import { addInterruptChecks } from '../wasm-host/interrupt.ts';
import { checkModule } from '../wasm-host/module-check.ts';

const hello = readFileSync(new URL('../build/endpoints/hello.wasm', import.meta.url));
const req: EndpointRequest = {
  method: 'GET',
  path: '/hello',
  query: 'name=roam',
  headers: [],
  body: new Uint8Array(),
};

// The same work as the hello endpoint, in JavaScript: a greeting and an FNV-1a hash of the name.
function helloJs(name: string): { status: number; body: Uint8Array } {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return {
    status: 200,
    body: Buffer.from(JSON.stringify({ message: `Hello, ${name}!`, hash: h.toString(16) })),
  };
}

function median(ms: number[]): number {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A module of about `kb` KB: many distinct functions, so compile time is representative of real code. */
async function bigModule(kb: number): Promise<Uint8Array> {
  const dir = new URL('../build/bench/', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const fns: string[] = [];
  for (let i = 0; i < kb * 11; i++) {
    fns.push(
      `export function f${i}(x: i32): i32 { let a = x; for (let j = 0; j < ${i % 7}; j++) { a = a * ${i + 3} + (a >>> ${(i % 13) + 1}); } return a ^ ${i}; }`,
    );
  }
  const source = readFileSync(new URL('../examples/endpoints/hello/index.ts', import.meta.url), 'utf8');
  writeFileSync(`${dir}big.ts`, `${source.replaceAll('"../../../sdk/', '"../../sdk/')}\n${fns.join('\n')}\n`);
  const { error, stderr } = await asc.main([
    `${dir}big.ts`,
    '-o',
    `${dir}big.wasm`,
    '-O1',
    '--importMemory',
    '--runtime',
    'incremental',
  ]);
  if (error) throw new Error(`compiling the big module failed: ${stderr.toString()}`);
  return readFileSync(`${dir}big.wasm`);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const time = quick ? 300 : 1500;
  const inline = new WasmHost({ id: 'bench-inline', tier: 'in-process', exec: 'inline' });
  const worker = new WasmHost({ id: 'bench-worker', tier: 'in-process', exec: 'worker' });
  const digest = inline.modules.put(hello);
  worker.modules.put(hello);
  await inline.activate('hello', digest);
  await worker.activate('hello', digest);

  const standalone = await startRoam([
    'host',
    '--tier',
    'cluster',
    '--listen',
    '127.0.0.1:0',
    '--exec',
    'inline',
  ]);
  const pool = new Pool(standalone.url, { connections: 1 });
  await pool.request({ method: 'POST', path: '/modules', body: hello });
  await pool.request({ method: 'PUT', path: '/endpoints/hello', body: JSON.stringify({ digest }) });

  const bench = new Bench({ time, warmupTime: 200 });
  bench
    .add('plain JS function', () => {
      helloJs('roam');
    })
    .add('in-process, inline (direct instance)', async () => {
      await inline.invoke('hello', req);
    })
    .add('in-process, worker pool (piscina)', async () => {
      await worker.invoke('hello', req);
    })
    .add('standalone host over loopback', async () => {
      const res = await pool.request({ method: 'GET', path: '/invoke/hello/hello?name=roam' });
      await res.body.arrayBuffer();
    });
  await bench.run();
  const rows = bench.tasks.map((t) => {
    const r = t.result as { latency?: { p50?: number } } | undefined;
    return { name: t.name, p50us: (r?.latency?.p50 ?? Number.NaN) * 1000 };
  });
  const base = rows[0]!.p50us;
  console.log('\nPer-call overhead (median latency per call)');
  console.table(
    rows.map((r) => ({
      path: r.name,
      'p50 (us)': r.p50us.toFixed(2),
      'x plain JS': (r.p50us / base).toFixed(1),
    })),
  );

  // Cold start.
  const big = await bigModule(100);
  const info = checkModule(big);
  const compileMs: number[] = [];
  const instrumentMs: number[] = [];
  const instantiateMs: number[] = [];
  let compiled: WebAssembly.Module | undefined;
  for (let i = 0; i < (quick ? 5 : 20); i++) {
    let t = performance.now();
    const instrumented = addInterruptChecks(big, checkModule(big));
    instrumentMs.push(performance.now() - t);
    t = performance.now();
    compiled = await WebAssembly.compile(instrumented);
    compileMs.push(performance.now() - t);
  }
  const coldHost = new WasmHost({ id: 'cold', tier: 'cluster', exec: 'inline' });
  const bigDigest = coldHost.modules.put(big);
  await coldHost.activate('big', bigDigest);
  for (let i = 0; i < (quick ? 5 : 20); i++) {
    const t = performance.now();
    await coldHost.activate(`big${i}`, bigDigest);
    instantiateMs.push(performance.now() - t);
  }
  void compiled;
  void info;

  // Upload to first answered request on a fresh standalone host, each round a new module (no caches).
  const firstAnswerMs: number[] = [];
  for (let i = 0; i < (quick ? 3 : 10); i++) {
    const unique = new Uint8Array(big.length + 16);
    unique.set(big);
    // A custom section (id 0, name "n", 13 bytes of payload) changes the digest but not the code.
    unique.set([0, 14, 1, 110, ...new Array(12).fill(i)], big.length);
    const t = performance.now();
    const up = await pool.request({ method: 'POST', path: '/modules', body: unique });
    const { digest: d } = (await up.body.json()) as { digest: string };
    const act = await pool.request({
      method: 'PUT',
      path: `/endpoints/cold${i}`,
      body: JSON.stringify({ digest: d }),
    });
    await act.body.arrayBuffer();
    const res = await pool.request({ method: 'GET', path: `/invoke/cold${i}/hello?name=x` });
    await res.body.arrayBuffer();
    firstAnswerMs.push(performance.now() - t);
    if (res.statusCode !== 200) throw new Error(`cold module answered ${res.statusCode}`);
  }
  console.log(`\nCold start, ${(big.length / 1024).toFixed(0)} KB module (median of runs)`);
  console.table([
    { step: 'check + instrument', 'median (ms)': median(instrumentMs).toFixed(2) },
    { step: 'compile (WebAssembly.compile)', 'median (ms)': median(compileMs).toFixed(2) },
    {
      step: 'activate from compiled module (instantiate + warm)',
      'median (ms)': median(instantiateMs).toFixed(2),
    },
    {
      step: 'standalone host: upload -> activate -> first answer',
      'median (ms)': median(firstAnswerMs).toFixed(2),
    },
  ]);

  await pool.close();
  await inline.close();
  await worker.close();
  await coldHost.close();
  await stopAll();
}

await main();
