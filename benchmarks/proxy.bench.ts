// Proxy figures (README "Figures"), side by side in one run: requests per second, p50/p99 latency and proxy CPU
// per request for (a) the upstream directly, (b) `roam proxy` passthrough as deployed (the JavaScript build,
// the sidecar's V8 flags), (c) nginx as an equivalent reverse proxy (upstream keep-alive, one worker), (e) a
// naive undici forwarder (benchmarks/support/naive-forwarder.ts), (f) `roam proxy --fast-path off` (every
// request on Node's HTTP server and undici), (g) (b) from source with Node's default V8 flags, (d) `roam proxy`
// to an in-process Wasm endpoint and (h) that from source with default flags, and (b) with tracing on; added p50 at a fixed 1k rps; the ratios issue 15
// sets aims for (roam / nginx, roam / naive); and resident memory idle and after a minute at saturation, for
// roam passthrough only and with the five examples placed in it, beside nginx and the naive forwarder.
// The load generator (wrk) runs pinned to core 1; upstream and proxy share core 0, as in the issue.
// Run: npm run bench -- proxy [--quick]
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { SIDECAR_NODE_FLAGS } from '../proxy/node-flags.ts';
import { cpuTicks, startPinned as startPinnedIn } from './support/processes.ts';

const quick = process.argv.includes('--quick');
const DURATION = quick ? 3 : 5;
const ROUNDS = quick ? 2 : 4; // even: each setup runs as often before a neighbour as after it
const CONNECTIONS = 32;
const dir = new URL('../build/bench/', import.meta.url).pathname;
const root = new URL('../', import.meta.url).pathname;
mkdirSync(dir, { recursive: true });
const children: ChildProcess[] = [];
const startPinned = (core: number, args: string[], env: NodeJS.ProcessEnv = {}) =>
  startPinnedIn(children, core, args, env);

function which(cmd: string): boolean {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

interface Run {
  rps: number;
  p50ms: number;
  p99ms: number;
  cpuUsPerReq: number | undefined;
  requests: number;
}

function parseMs(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v)!;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function wrk(url: string, pid?: number): Run {
  const before = pid ? cpuTicks(pid) : 0;
  const out = execFileSync(
    'taskset',
    ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', url],
    {
      encoding: 'utf8',
    },
  );
  const after = pid ? cpuTicks(pid) : 0;
  const requests = Number(/(\d+) requests in/.exec(out)![1]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`${url}: ${non2xx[1]} non-2xx responses`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    p50ms: parseMs(/^\s+50%\s+(\S+)/m.exec(out)![1]!),
    p99ms: parseMs(/^\s+99%\s+(\S+)/m.exec(out)![1]!),
    cpuUsPerReq: pid ? ((after - before) * 10_000) / requests : undefined,
    requests,
  };
}

/** Open-loop load at a fixed rate from this process (pinned to core 1): the latency a caller sees at 1k rps. */
async function fixedRate(url: string, rps: number, seconds: number): Promise<number> {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections: 64 });
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < rps * seconds; i++) {
    const due = start + (i * 1000) / rps;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    pending.push(
      pool.request({ method: 'GET', path: u.pathname + u.search }).then(async (res) => {
        await res.body.dump();
        latencies.push(performance.now() - t);
      }),
    );
  }
  await Promise.all(pending);
  await pool.close();
  latencies.sort((a, b) => a - b);
  return latencies[Math.floor(latencies.length / 2)]!;
}

async function main(): Promise<void> {
  if (!which('wrk')) throw new Error('wrk is not installed (apt-get install wrk)');
  execFileSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const node = process.execPath;

  const upstream = await startPinned(0, [
    node,
    `${root}examples/legacy-service/server.ts`,
    '--listen',
    '127.0.0.1:0',
  ]);
  const upstreamUrl = `http://${upstream.info.address}`;

  // Roam's processes as deployed: the JavaScript build, with the sidecar's V8 flags (proxy/node-flags.ts).
  const proxyArgs = [
    node,
    ...SIDECAR_NODE_FLAGS,
    `${root}build/js/bin/roam.js`,
    'proxy',
    '--listen',
    '127.0.0.1:0',
    '--admin',
    '127.0.0.1:0',
    '--upstream',
    upstreamUrl,
  ];
  // Passthrough only: no route, no endpoint placed.
  const proxy = await startPinned(0, proxyArgs, { OTEL_EXPORTER_OTLP_ENDPOINT: '' });
  const proxyUrl = `http://${proxy.info.address}`;
  const naive = await startPinned(0, [
    node,
    `${root}benchmarks/support/naive-forwarder.ts`,
    '--listen',
    '127.0.0.1:0',
    '--upstream',
    upstreamUrl,
  ]);
  const naiveUrl = `http://${naive.info.address}`;
  // The same sidecar with every request on the slow path (Node's HTTP server and undici), for the fast path's
  // gain measured side by side.
  const slow = await startPinned(0, [...proxyArgs, '--fast-path', 'off'], {
    OTEL_EXPORTER_OTLP_ENDPOINT: '',
  });
  const slowUrl = `http://${slow.info.address}`;
  // And as a developer runs it: from source (.ts, Node's type stripping) with Node's default V8 flags.
  const fromSource = (args: string[]) => [node, `${root}bin/roam.ts`, ...args.slice(args.indexOf('proxy'))];
  const source = await startPinned(0, fromSource(proxyArgs), { OTEL_EXPORTER_OTLP_ENDPOINT: '' });
  const sourceUrl = `http://${source.info.address}`;
  // The five examples placed in the sidecar, with the stores they use.
  writeFileSync(
    `${dir}routes-examples.json`,
    JSON.stringify({
      version: 1,
      routes: [
        { match: 'GET /hello', endpoint: 'hello' },
        { match: '* /cart/*', endpoint: 'cart' },
        { match: 'POST /pricing', endpoint: 'pricing' },
        { match: 'POST /checkout/{user}', endpoint: 'checkout' },
        { match: 'POST /resize', endpoint: 'resize' },
      ],
      endpoints: Object.fromEntries(
        ['hello', 'cart', 'pricing', 'checkout', 'resize'].map((name) => [
          name,
          { module: `${root}build/endpoints/${name}.wasm`, targets: [{ kind: 'local', weight: 1 }] },
        ]),
      ),
    }),
  );
  const placedArgs = [
    ...proxyArgs,
    '--routes',
    `${dir}routes-examples.json`,
    ...['carts', 'orders', 'catalog', 'seq'].flatMap((store) => ['--store', `${store}=memory`]),
  ];
  const placed = await startPinned(0, placedArgs, { OTEL_EXPORTER_OTLP_ENDPOINT: '' });
  const placedUrl = `http://${placed.info.address}`;
  const sourcePlaced = await startPinned(0, fromSource(placedArgs), { OTEL_EXPORTER_OTLP_ENDPOINT: '' });
  const sourcePlacedUrl = `http://${sourcePlaced.info.address}`;
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = rssMb(proxy.child.pid!);
  const idlePlacedRss = rssMb(placed.child.pid!);
  const idleNaiveRss = rssMb(naive.child.pid!);
  const idleSourceRss = rssMb(source.child.pid!);

  // A sink that accepts OTLP/HTTP exports and drops them, for the tracing-on run.
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const traced = await startPinned(0, proxyArgs, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
  });
  const tracedUrl = `http://${traced.info.address}`;

  let nginxUrl: string | undefined;
  let nginxRss = (): number => 0;
  if (which('nginx')) {
    const port = 18000 + Math.floor(Math.random() * 1000);
    writeFileSync(
      `${dir}nginx.conf`,
      `worker_processes 1;
daemon off;
pid ${dir}nginx.pid;
error_log ${dir}nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream legacy { server ${upstream.info.address}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://legacy; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
    );
    const nginx = spawn('taskset', ['-c', '0', 'nginx', '-c', `${dir}nginx.conf`, '-p', dir], {
      stdio: 'ignore',
    });
    children.push(nginx);
    await new Promise((r) => setTimeout(r, 500));
    nginxUrl = `http://127.0.0.1:${port}`;
  }

  const path = '/legacy/hello';
  const warm = (url: string) =>
    execFileSync('taskset', ['-c', '1', 'wrk', '-t1', '-c8', '-d1s', url], { stdio: 'ignore' });
  for (const url of [
    `${upstreamUrl}${path}`,
    `${proxyUrl}${path}`,
    `${naiveUrl}${path}`,
    `${slowUrl}${path}`,
    `${sourceUrl}${path}`,
    `${placedUrl}${path}`,
    `${placedUrl}/hello?name=bench`,
    `${sourcePlacedUrl}/hello?name=bench`,
    `${tracedUrl}${path}`,
  ])
    warm(url);
  if (nginxUrl) warm(`${nginxUrl}${path}`);

  // Every setup is measured ROUNDS times, the rounds interleaved, and its median round (by req/s) reported:
  // on a shared machine a neighbour's burst then lands on one round of each setup, not on one setup.
  const setups: [string, string, number | undefined][] = [
    ['(a) upstream directly', `${upstreamUrl}${path}`, upstream.child.pid],
    ['(b) roam proxy, passthrough', `${proxyUrl}${path}`, proxy.child.pid],
  ];
  if (nginxUrl) {
    const nginxPid = Number(readFileSync(`${dir}nginx.pid`, 'utf8'));
    const workers = execFileSync('pgrep', ['-P', String(nginxPid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    setups.push(['(c) nginx, passthrough', `${nginxUrl}${path}`, workers[0]]);
    nginxRss = () => [nginxPid, ...workers].reduce((sum, pid) => sum + rssMb(pid), 0);
  }
  setups.push(
    ['(e) naive undici forwarder', `${naiveUrl}${path}`, naive.child.pid],
    ['(f) roam proxy, slow path only (--fast-path off)', `${slowUrl}${path}`, slow.child.pid],
    ['(g) (b) from source, default V8 flags', `${sourceUrl}${path}`, source.child.pid],
    ['(d) roam proxy -> in-process Wasm', `${placedUrl}/hello?name=bench`, placed.child.pid],
    ['(h) (d) from source, default V8 flags', `${sourcePlacedUrl}/hello?name=bench`, sourcePlaced.child.pid],
    ['(b) with tracing on (OTLP)', `${tracedUrl}${path}`, traced.child.pid],
  );
  const runs = new Map<string, Run[]>(setups.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate directions, so no setup always runs right after another (the machine's speed drifts).
    const order = round % 2 === 0 ? setups : [...setups].reverse();
    for (const [name, url, pid] of order) runs.get(name)!.push(wrk(url, pid));
  }
  const loadedRss = rssMb(proxy.child.pid!);
  const rows: [string, Run][] = setups.map(([name]) => {
    const sorted = runs.get(name)!.sort((x, y) => x.rps - y.rps);
    return [name, sorted[Math.floor(sorted.length / 2)]!];
  });

  const a = rows[0]![1];
  const c = rows.find(([n]) => n.startsWith('(c)'))?.[1];
  console.log(
    `\nProxy throughput and latency (wrk -c${CONNECTIONS}, median of ${ROUNDS} interleaved ${DURATION}s rounds; load on core 1, upstream + proxy on core 0)`,
  );
  console.table(
    rows.map(([name, r]) => ({
      setup: name,
      'req/s': Math.round(r.rps),
      'p50 ms': r.p50ms.toFixed(3),
      'p99 ms': r.p99ms.toFixed(3),
      'proxy CPU us/req':
        r.cpuUsPerReq === undefined || name.startsWith('(a)') ? '-' : r.cpuUsPerReq.toFixed(1),
      'x (a)': (r.rps / a.rps).toFixed(2),
      'x (c)': c ? (r.rps / c.rps).toFixed(2) : '-',
    })),
  );
  const b = rows[1]![1];
  const d = rows.find(([n]) => n.startsWith('(d)'))![1];
  const e = rows.find(([n]) => n.startsWith('(e)'))![1];
  const f = rows.find(([n]) => n.startsWith('(f)'))![1];
  const g = rows.find(([n]) => n.startsWith('(g)'))![1];
  const h = rows.find(([n]) => n.startsWith('(h)'))![1];
  console.log(`(d)/(b) requests per second: ${(d.rps / b.rps).toFixed(2)}x`);
  console.log(
    `as deployed / from source with default V8 flags: passthrough (b)/(g) ${(b.rps / g.rps).toFixed(2)}x, in-process Wasm (d)/(h) ${(d.rps / h.rps).toFixed(2)}x req/s (aim: within 5%)`,
  );
  console.log(
    `fast path / slow path (b)/(f): ${(b.rps / f.rps).toFixed(2)}x req/s, ${b.cpuUsPerReq !== undefined && f.cpuUsPerReq !== undefined ? (b.cpuUsPerReq / f.cpuUsPerReq).toFixed(2) : '-'}x CPU per request`,
  );
  console.log(
    `roam passthrough / nginx: ${c ? (b.rps / c.rps).toFixed(2) : '-'}x req/s (aim >= 0.5), p99 ${c ? (b.p99ms / c.p99ms).toFixed(2) : '-'}x (aim <= 2); roam / naive forwarder: ${(b.rps / e.rps).toFixed(2)}x req/s (aim >= 1.3)`,
  );

  const direct = await fixedRate(`${upstreamUrl}${path}`, 1000, quick ? 3 : 5);
  const viaProxy = await fixedRate(`${proxyUrl}${path}`, 1000, quick ? 3 : 5);
  console.log(
    `\nAt a fixed 1000 req/s: p50 direct ${direct.toFixed(3)} ms, through roam proxy ${viaProxy.toFixed(3)} ms, added ${(viaProxy - direct).toFixed(3)} ms`,
  );
  // A minute at saturation (wrk at full speed), then resident memory: where a sidecar's memory settles.
  const SATURATION = quick ? 10 : 60;
  const saturate = (url: string) =>
    execFileSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${SATURATION}s`, url], {
      stdio: 'ignore',
    });
  saturate(`${proxyUrl}${path}`);
  const saturatedRss = rssMb(proxy.child.pid!);
  saturate(`${sourceUrl}${path}`);
  const saturatedSourceRss = rssMb(source.child.pid!);
  saturate(`${placedUrl}${path}`);
  saturate(`${placedUrl}/hello?name=bench`);
  const saturatedPlacedRss = rssMb(placed.child.pid!);
  saturate(`${naiveUrl}${path}`);
  const saturatedNaiveRss = rssMb(naive.child.pid!);
  const nginxIdle = nginxRss();
  if (nginxUrl) saturate(`${nginxUrl}${path}`);
  console.log(`\nResident memory (MB), idle and after ${SATURATION} s at saturation (aims from issue 15):`);
  console.table([
    {
      process: 'roam proxy, passthrough only',
      idle: idleRss.toFixed(1),
      'after 10 s': loadedRss.toFixed(1),
      saturated: saturatedRss.toFixed(1),
      aim: '<= 70 / <= 110',
    },
    {
      process: 'roam proxy, five examples placed',
      idle: idlePlacedRss.toFixed(1),
      'after 10 s': '-',
      saturated: saturatedPlacedRss.toFixed(1),
      aim: '<= 100 / <= 140',
    },
    {
      process: 'roam proxy from source, default V8 flags',
      idle: idleSourceRss.toFixed(1),
      'after 10 s': '-',
      saturated: saturatedSourceRss.toFixed(1),
      aim: '',
    },
    {
      process: 'roam proxy, tracing on',
      idle: '-',
      'after 10 s': rssMb(traced.child.pid!).toFixed(1),
      saturated: '-',
      aim: '',
    },
    {
      process: 'naive undici forwarder',
      idle: idleNaiveRss.toFixed(1),
      'after 10 s': '-',
      saturated: saturatedNaiveRss.toFixed(1),
      aim: '',
    },
    {
      process: 'nginx (master + worker)',
      idle: nginxIdle.toFixed(1),
      'after 10 s': '-',
      saturated: nginxRss().toFixed(1),
      aim: '',
    },
  ]);

  for (const child of children) child.kill('SIGTERM');
  sink.close();
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGKILL');
}
