// Profiling overhead on the proxy, side by side in one run: the same `roam proxy` with --profiling off and on
// (recorder per request, report batches, probes, observable metrics), for passthrough to the legacy service
// and for an in-process Wasm endpoint. Runs alternate off/on twice so drift of the machine hits both alike.
// wrk runs pinned to core 1, upstream and proxies share core 0 (as in proxy.bench.ts). Aim: < 5 % cost.
// Then the recorder's own cost per request (tinybench), which a loaded machine disturbs far less than wrk.
// Run: npm run bench -- profiler [--quick]
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { NodeProfiler } from '../profiler/index.ts';
import { cpuTicks, startPinned as startPinnedIn } from './support/processes.ts';

const quick = process.argv.includes('--quick');
const DURATION = quick ? 3 : 8;
const ROUNDS = 2;
const CONNECTIONS = 32;
const dir = new URL('../build/bench/', import.meta.url).pathname;
const root = new URL('../', import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const children: ChildProcess[] = [];
const startPinned = (core: number, args: string[]) => startPinnedIn(children, core, args);

function wrk(url: string, pid: number): { rps: number; cpuUsPerReq: number } {
  const before = cpuTicks(pid);
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, url], {
    encoding: 'utf8',
  });
  const requests = Number(/(\d+) requests in/.exec(out)![1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`${url}: ${non2xx[1]} non-2xx responses`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    cpuUsPerReq: ((cpuTicks(pid) - before) * 10_000) / requests,
  };
}

async function main(): Promise<void> {
  execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const node = process.execPath;
  const upstream = await startPinned(0, [
    node,
    `${root}examples/legacy-service/server.ts`,
    '--listen',
    '127.0.0.1:0',
  ]);
  writeFileSync(
    `${dir}profiler-routes.json`,
    JSON.stringify({
      version: 1,
      routes: [{ match: 'GET /hello', endpoint: 'hello' }],
      endpoints: {
        hello: { module: `${root}build/endpoints/hello.wasm`, targets: [{ kind: 'local', weight: 1 }] },
      },
    }),
  );
  const proxy = (profiling: 'on' | 'off') =>
    startPinned(0, [
      node,
      `${root}bin/roam.ts`,
      'proxy',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      `http://${upstream.info.address}`,
      '--routes',
      `${dir}profiler-routes.json`,
      '--profiling',
      profiling,
    ]);
  const setups = { off: await proxy('off'), on: await proxy('on') };
  const paths = { passthrough: '/legacy/hello', 'in-process Wasm (hello)': '/hello?name=bench' };
  for (const s of Object.values(setups))
    for (const p of Object.values(paths))
      execFileSync('taskset', ['-c', '1', 'wrk', '-t1', '-c8', '-d1s', `http://${s.info.address}${p}`], {
        stdio: 'ignore',
      });

  const rows: Record<string, string>[] = [];
  for (const [what, path] of Object.entries(paths)) {
    const sum = { off: { rps: 0, cpu: 0 }, on: { rps: 0, cpu: 0 } };
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const r = wrk(`http://${setups[mode].info.address}${path}`, setups[mode].child.pid!);
        sum[mode].rps += r.rps / ROUNDS;
        sum[mode].cpu += r.cpuUsPerReq / ROUNDS;
      }
    }
    for (const mode of ['off', 'on'] as const) {
      rows.push({
        path: what,
        profiling: mode,
        'req/s': Math.round(sum[mode].rps).toLocaleString('en'),
        'proxy CPU us/req': sum[mode].cpu.toFixed(1),
        'on/off throughput': mode === 'on' ? (sum.on.rps / sum.off.rps).toFixed(3) : '',
        'throughput cost': mode === 'on' ? `${((1 - sum.on.rps / sum.off.rps) * 100).toFixed(1)} %` : '',
      });
    }
  }
  console.log(
    `\nProfiling on vs off (wrk -c${CONNECTIONS}, ${ROUNDS} x ${DURATION}s each, alternating; aim: cost under 5 %)`,
  );
  console.table(rows);
  await recorderCost(rows);
}

/** Nanoseconds the proxy spends in the recorder per request, next to its whole CPU cost per request. */
async function recorderCost(rows: Record<string, string>[]): Promise<void> {
  const profiler = new NodeProfiler();
  const bench = new Bench({ time: quick ? 300 : 1000 });
  let i = 0;
  bench
    .add('endpoint request', () => {
      profiler.endpointRequest('hello', false, 200, 0.3 + (i++ % 7) * 0.1, 0, 27);
    })
    .add('passthrough request (route template cached)', () => {
      profiler.passthroughRequest(i++ % 2 ? '/legacy/hello' : '/orders/123?x=1', 200, 0.4, 0, 40);
    });
  await bench.run();
  const cpu = (path: string) =>
    Number(rows.find((r) => r.path === path && r.profiling === 'off')!['proxy CPU us/req']);
  const per: Record<string, number> = {
    'endpoint request': cpu('in-process Wasm (hello)'),
    'passthrough request (route template cached)': cpu('passthrough'),
  };
  console.log(
    '\nRecorder cost per request (tinybench median), against the proxy CPU per request measured above',
  );
  console.table(
    bench.tasks.map((t) => {
      const ns = (t.result as { latency: { p50: number } }).latency.p50 * 1e6;
      return {
        'recorded as': t.name,
        'ns per request': ns.toFixed(0),
        'share of proxy CPU per request': `${((ns / 1000 / per[t.name]!) * 100).toFixed(2)} %`,
      };
    }),
  );
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
}
