// Compiles the example endpoints (examples/endpoints/NAME/index.ts -> build/endpoints/NAME.wasm) and the host's
// test fixtures (wasm-host/test/fixtures/NAME.ts -> build/fixtures/NAME.wasm) with AssemblyScript's compiler
// API, in process, on worker threads when several modules are stale. Every module is checked against the
// endpoint ABI (protocol/abi.md) before it is written.
// Usage: node scripts/build-examples.ts [--force] [--jobs=N]   (N compiler threads; default: one per CPU)
//
// A module is rebuilt when a source (its own, the SDK's or this script) is newer than its output, or with
// --force. A fixture overrides flags with a first line `// roam-build: FLAGS`: any asc flags, plus two of ours,
// --noImportMemory (the module defines and exports its own memory) and --noAbiCheck (it breaks the ABI on
// purpose, so the check is skipped).
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const root = fileURLToPath(new URL('..', import.meta.url));
const sdkDir = join(root, 'sdk/assembly');

// -O3 over -Os: 30-40% faster on the JSON endpoints for modules ~40% larger (15-30 KB), fetched once per host.
// The minimal runtime (TLSF + a mark-and-sweep GC that runs only when told) over the incremental GC: the SDK
// collects after every request (sdk/assembly/exports.ts), which keeps an instance reused for many requests at
// a steady size, and without the incremental GC's shadow stack the endpoints run ~40% faster in ~20% less
// code. The cost: garbage made during one request is only reclaimed when it ends. (The stub runtime never
// frees.) No --exportStart: top-level code runs in the Wasm start section at instantiation, which the ABI
// allows. --noExportMemory: the memory is the host's; the module exports only the three ABI functions.
const BASE_FLAGS = ['-O3', '--runtime', 'minimal', '--importMemory', '--noExportMemory', '--noAssert'];

/** What ABI v1 lets a module import, besides env.memory. */
const ALLOWED_IMPORTS = new Set([
  'roam.kv_get',
  'roam.kv_put',
  'roam.kv_delete',
  'roam.kv_list',
  'roam.call',
  'roam.result_read',
  'roam.log',
  'roam.now_ns',
  'roam.random_fill',
  'env.abort',
  'env.seed',
  'env.trace',
]);
const REQUIRED_EXPORTS = ['roam_abi_version', 'roam_alloc', 'roam_handle'];

interface Unit {
  name: string;
  source: string;
  output: string;
  flags: string[];
  abiCheck: boolean;
  /** Files whose modification makes the output stale (besides the SDK and this script). */
  inputs: string;
}

interface Compiled {
  name: string;
  binary?: Uint8Array;
  error?: string;
  ms: number;
}

function newestIn(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestIn(join(path, entry)));
  return newest;
}

function directive(source: string): string[] {
  const first = readFileSync(source, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^\/\/\s*roam-build:(.*)$/.exec(first);
  return m?.[1] ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

function unit(name: string, source: string, output: string, inputs: string): Unit {
  const extra = directive(source);
  const ownMemory = extra.includes('--noImportMemory');
  const base = ownMemory
    ? BASE_FLAGS.filter((f) => f !== '--importMemory' && f !== '--noExportMemory')
    : BASE_FLAGS;
  const flags = [...base, ...extra.filter((f) => f !== '--noImportMemory' && f !== '--noAbiCheck')];
  return { name, source, output, flags, abiCheck: !extra.includes('--noAbiCheck'), inputs };
}

function units(): Unit[] {
  const out: Unit[] = [];
  const endpoints = join(root, 'examples/endpoints');
  for (const name of readdirSync(endpoints).sort()) {
    const source = join(endpoints, name, 'index.ts');
    if (existsSync(source))
      out.push(unit(name, source, join(root, 'build/endpoints', `${name}.wasm`), join(endpoints, name)));
  }
  const fixtures = join(root, 'wasm-host/test/fixtures');
  for (const file of readdirSync(fixtures).sort()) {
    if (!file.endsWith('.ts')) continue;
    const source = join(fixtures, file);
    const name = basename(file, '.ts');
    out.push(unit(`fixtures/${name}`, source, join(root, 'build/fixtures', `${name}.wasm`), source));
  }
  return out;
}

async function compile(u: Unit): Promise<Compiled> {
  // Loaded on first use: loading the compiler takes longer than checking that everything is up to date.
  const { default: asc } = await import('assemblyscript/asc');
  const start = performance.now();
  let binary: Uint8Array | undefined;
  let diagnostics = '';
  const { error } = await asc.main(
    [relative(root, u.source), '--baseDir', root, '--outFile', 'out.wasm', ...u.flags],
    {
      stdout: asc.createMemoryStream(),
      stderr: asc.createMemoryStream((chunk) => {
        diagnostics += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      }),
      writeFile: (_filename, contents) => {
        binary = typeof contents === 'string' ? Buffer.from(contents) : contents;
      },
    },
  );
  const ms = performance.now() - start;
  if (error || !binary)
    return { name: u.name, error: `${error?.message ?? 'no output'}\n${diagnostics}`, ms };
  return { name: u.name, binary, ms };
}

/** Problems that would make the host refuse the module (protocol/abi.md), or [] if it conforms. */
function abiProblems(binary: Uint8Array): string[] {
  const module = new WebAssembly.Module(binary);
  const problems: string[] = [];
  let memoryImported = false;
  for (const i of WebAssembly.Module.imports(module)) {
    const id = `${i.module}.${i.name}`;
    if (id === 'env.memory' && i.kind === 'memory') memoryImported = true;
    else if (!ALLOWED_IMPORTS.has(id))
      problems.push(`imports ${id} (${i.kind}), which the ABI does not offer`);
  }
  if (!memoryImported) problems.push('does not import env.memory');
  const exports = WebAssembly.Module.exports(module);
  for (const name of REQUIRED_EXPORTS) {
    if (!exports.some((e) => e.name === name && e.kind === 'function'))
      problems.push(`does not export ${name}`);
  }
  for (const e of exports) if (e.kind === 'memory') problems.push(`exports a memory (${e.name})`);
  return problems;
}

/** Compiles on `threads` workers (this thread when 1), yielding results as they finish. */
async function* compileAll(todo: Unit[], threads: number): AsyncGenerator<Compiled> {
  if (threads <= 1) {
    for (const u of todo) yield await compile(u);
    return;
  }
  const queue = [...todo];
  const done: Compiled[] = [];
  let wake: (() => void) | undefined;
  let running = 0;
  const workers: Worker[] = [];
  const feed = (w: Worker) => {
    const next = queue.shift();
    if (next) {
      running++;
      w.postMessage(next);
    }
  };
  for (let i = 0; i < threads; i++) {
    const w = new Worker(new URL(import.meta.url));
    w.on('message', (c: Compiled) => {
      running--;
      done.push(c);
      feed(w);
      wake?.();
    });
    w.on('error', (err) => {
      running--;
      done.push({ name: '(worker)', error: String(err), ms: 0 });
      wake?.();
    });
    workers.push(w);
    feed(w);
  }
  try {
    while (running > 0 || done.length > 0) {
      const c = done.shift();
      if (c) yield c;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1).padStart(6)} KB`;
}

async function main(): Promise<void> {
  const force = process.argv.includes('--force');
  const jobsArg = process.argv.find((a) => a.startsWith('--jobs='));
  const jobs = jobsArg ? Math.max(1, Number.parseInt(jobsArg.slice(7), 10) || 1) : availableParallelism();
  const start = performance.now();
  const shared = Math.max(newestIn(sdkDir), statSync(fileURLToPath(import.meta.url)).mtimeMs);
  const all = units();
  const todo: Unit[] = [];
  for (const u of all) {
    const fresh =
      !force && existsSync(u.output) && statSync(u.output).mtimeMs > Math.max(shared, newestIn(u.inputs));
    if (fresh) console.log(`  ${u.name.padEnd(22)} ${kb(statSync(u.output).size)}  up to date`);
    else todo.push(u);
  }
  mkdirSync(join(root, 'build/endpoints'), { recursive: true });
  mkdirSync(join(root, 'build/fixtures'), { recursive: true });

  // A worker costs about as much to start as one compile (it loads the compiler), so one needs 3+ modules.
  const threads = todo.length >= 3 ? Math.min(jobs, todo.length) : 1;
  const byName = new Map(todo.map((u) => [u.name, u]));
  const failures: string[] = [];
  // Outputs are stamped with the build's start time, so a source edited while it runs is seen as newer.
  const began = new Date();
  for await (const c of compileAll(todo, threads)) {
    const u = byName.get(c.name);
    byName.delete(c.name);
    const problems = c.error ? [c.error] : u && c.binary && u.abiCheck ? abiProblems(c.binary) : [];
    if (!u || !c.binary || problems.length > 0) {
      // Never leave a stale or nonconforming module where the tests would pick it up.
      if (u) rmSync(u.output, { force: true });
      failures.push(`${c.name}:\n${problems.join('\n').trimEnd().replace(/^/gm, '  ')}`);
      console.log(`✗ ${c.name.padEnd(22)} failed`);
      continue;
    }
    writeFileSync(`${u.output}.tmp`, c.binary);
    renameSync(`${u.output}.tmp`, u.output);
    utimesSync(u.output, began, began);
    console.log(`✓ ${c.name.padEnd(22)} ${kb(c.binary.length)}  ${c.ms.toFixed(0).padStart(5)} ms`);
  }
  for (const [name, u] of byName) {
    rmSync(u.output, { force: true });
    failures.push(`${name}:\n  not compiled (its compiler thread died)`);
  }
  const seconds = ((performance.now() - start) / 1000).toFixed(2);
  if (failures.length > 0) {
    console.error(`\nbuild: ${failures.length} of ${all.length} modules failed:\n\n${failures.join('\n\n')}`);
    process.exit(1);
  }
  console.log(
    `build: ${todo.length} compiled, ${all.length - todo.length} up to date, ${seconds} s (${threads} thread(s))`,
  );
}

if (isMainThread) {
  await main();
} else {
  parentPort?.on('message', async (u: Unit) => {
    parentPort?.postMessage(await compile(u));
  });
}
