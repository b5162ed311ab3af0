// Compiles the example endpoints (examples/endpoints/NAME/index.ts -> build/endpoints/NAME.wasm) and the host's
// test fixtures (wasm-host/test/fixtures/NAME.ts -> build/fixtures/NAME.wasm) with AssemblyScript's compiler
// API, in process, on worker threads when several modules are stale; and the Rust and C ports
// (examples/endpoints-rust/NAME.rs -> build/endpoints/NAME.rust.wasm, examples/endpoints-c/NAME.c ->
// build/endpoints/NAME.c.wasm) with Debian's rustc and clang when they are installed: without them it says, in
// one line per language, what is missing and how to install it, and goes on (under CI=true it fails instead).
// Every module is checked against the endpoint ABI (protocol/abi.md) before it is written.
// Usage: node scripts/build-examples.ts [--force] [--jobs=N]   (N compiler threads; default: one per CPU)
// ROAM_RUSTC and ROAM_CLANG name other compilers (by default /usr/bin/rustc, whose std matches Debian's wasm32
// std, and the first clang on PATH).
//
// A module is rebuilt when a source (its own, the SDK's or this script) is newer than its output, or with
// --force. A fixture overrides flags with a first line `// roam-build: FLAGS`: any asc flags, plus two of ours,
// --noImportMemory (the module defines and exports its own memory) and --noAbiCheck (it breaks the ABI on
// purpose, so the check is skipped).

import { execFile } from 'node:child_process';
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
import { basename, delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

/** An endpoint written in Rust or C, compiled by its language's toolchain (not in process). */
interface NativeUnit {
  name: string;
  source: string;
  output: string;
}

interface Language {
  label: string;
  dir: string;
  ext: string;
  /** build/endpoints/NAME.SUFFIX.wasm, beside the AssemblyScript build NAME.wasm. */
  suffix: string;
  sdk: string;
  install: string;
  /** What is missing to build this language, or undefined when its toolchain is complete. */
  missing(): Promise<string | undefined>;
  /** Runs once before the language's endpoints compile (the Rust SDK crate). */
  prepare(): Promise<void>;
  compile(u: NativeUnit): Promise<void>;
}

const run = promisify(execFile);

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

const rustc = process.env.ROAM_RUSTC ?? '/usr/bin/rustc';
const rustSdkOut = join(root, 'build/sdk/rust');
// Size over nothing else matters little at this scale, so -O3 as for AssemblyScript; LTO and one codegen unit
// let the linker drop the std code the endpoint never reaches, and stripping the symbols takes the module from
// megabytes to tens of kilobytes. A 64 KiB stack instead of the default 1 MiB: the handlers keep their data on
// the heap, and a smaller initial memory is quicker to create on every instantiation.
const RUST_FLAGS = [
  '--edition',
  '2021',
  '--target',
  'wasm32-unknown-unknown',
  '-C',
  'opt-level=3',
  '-C',
  'panic=abort',
];
const RUST_LINK = [
  '-C',
  'lto',
  '-C',
  'codegen-units=1',
  '-C',
  'strip=symbols',
  '-C',
  'link-arg=--import-memory',
];
const STACK = 'stack-size=65536';

// wasm32-wasi for wasi-libc's malloc and string functions; no start files and no entry point, so the module
// imports nothing from WASI as long as the SDK stays clear of stdio (it does).
const C_FLAGS = ['--target=wasm32-wasi', '-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-nostartfiles'];
const C_LINK = ['-Wl,--no-entry', '-Wl,--import-memory', `-Wl,-z,${STACK}`, '-Wl,--strip-all'];

const LANGUAGES: Language[] = [
  {
    label: 'Rust',
    dir: 'examples/endpoints-rust',
    ext: '.rs',
    suffix: 'rust',
    sdk: 'sdk/rust',
    install: 'apt-get install -y rustc libstd-rust-dev-wasm32',
    async missing() {
      if (!existsSync(rustc)) return `${rustc} not found`;
      const std = join(dirname(dirname(rustc)), 'lib/rustlib/wasm32-unknown-unknown');
      return existsSync(std) ? undefined : `no wasm32 std for ${rustc} (${std})`;
    },
    async prepare() {
      mkdirSync(rustSdkOut, { recursive: true });
      const lib = join(root, 'sdk/rust/src/lib.rs');
      await run(rustc, [
        ...RUST_FLAGS,
        '--crate-type',
        'rlib',
        '--crate-name',
        'roam',
        lib,
        '--out-dir',
        rustSdkOut,
      ]);
    },
    async compile(u) {
      await run(rustc, [
        ...RUST_FLAGS,
        ...RUST_LINK,
        '-C',
        `link-arg=-z${STACK}`,
        '--crate-type',
        'cdylib',
        '--crate-name',
        basename(u.source, '.rs'),
        '--extern',
        `roam=${join(rustSdkOut, 'libroam.rlib')}`,
        u.source,
        '-o',
        u.output,
      ]);
    },
  },
  {
    label: 'C',
    dir: 'examples/endpoints-c',
    ext: '.c',
    suffix: 'c',
    sdk: 'sdk/c',
    install: 'apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32',
    async missing() {
      const clang = process.env.ROAM_CLANG ?? onPath('clang');
      if (!clang || !existsSync(clang)) return 'clang not found';
      if (!onPath('wasm-ld')) return 'wasm-ld (lld) not found';
      if (!existsSync('/usr/include/wasm32-wasi/stdlib.h')) return 'wasi-libc not found';
      const { stdout } = await run(clang, ['--target=wasm32-wasi', '-print-libgcc-file-name']);
      return existsSync(stdout.trim()) ? undefined : `clang's wasm32 runtime not found (${stdout.trim()})`;
    },
    async prepare() {},
    async compile(u) {
      const clang = process.env.ROAM_CLANG ?? onPath('clang') ?? 'clang';
      const sdk = join(root, 'sdk/c');
      await run(clang, [...C_FLAGS, `-I${sdk}`, ...C_LINK, '-o', u.output, join(sdk, 'roam.c'), u.source]);
    },
  },
];

interface NativeResult {
  compiled: number;
  upToDate: number;
  failures: string[];
}

/** Builds the Rust and C endpoints that are stale, `jobs` compilers at a time across the languages. */
async function buildNative(force: boolean, jobs: number): Promise<NativeResult> {
  const result: NativeResult = { compiled: 0, upToDate: 0, failures: [] };
  const script = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  const queue: { lang: Language; u: NativeUnit }[] = [];
  const discard = (todo: NativeUnit[]) => {
    // Never leave a module built from older sources where the tests would pick it up.
    for (const u of todo) rmSync(u.output, { force: true });
  };
  await Promise.all(
    LANGUAGES.map(async (lang) => {
      const dir = join(root, lang.dir);
      if (!existsSync(dir)) return;
      const shared = Math.max(script, newestIn(join(root, lang.sdk)));
      const todo: NativeUnit[] = [];
      for (const file of readdirSync(dir).sort()) {
        if (!file.endsWith(lang.ext)) continue;
        const name = basename(file, lang.ext);
        const output = join(root, 'build/endpoints', `${name}.${lang.suffix}.wasm`);
        const u = { name: `${name}.${lang.suffix}`, source: join(dir, file), output };
        const fresh =
          !force && existsSync(output) && statSync(output).mtimeMs > Math.max(shared, newestIn(u.source));
        if (fresh) result.upToDate++;
        else todo.push(u);
      }
      if (todo.length === 0) return;
      const missing = await lang.missing().catch((err: Error) => err.message.split('\n', 1)[0]);
      if (missing) {
        discard(todo);
        const line = `${lang.label} endpoints: ${missing}; install with: ${lang.install}`;
        if (process.env.CI === 'true')
          result.failures.push(`${line}\n  (CI=true: every language must build)`);
        else console.log(`- skipped ${line}`);
        return;
      }
      try {
        await lang.prepare();
        for (const u of todo) queue.push({ lang, u });
      } catch (err) {
        discard(todo);
        result.failures.push(`${lang.sdk}:\n${String((err as { stderr?: string }).stderr || err).trimEnd()}`);
      }
    }),
  );
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { lang, u } = next;
      const start = performance.now();
      const began = new Date();
      try {
        await lang.compile(u);
        const problems = abiProblems(readFileSync(u.output));
        if (problems.length > 0) throw Object.assign(new Error('ABI check'), { stderr: problems.join('\n') });
        utimesSync(u.output, began, began);
        result.compiled++;
        const ms = (performance.now() - start).toFixed(0).padStart(5);
        console.log(`✓ ${u.name.padEnd(22)} ${kb(statSync(u.output).size)}  ${ms} ms`);
      } catch (err) {
        discard([u]);
        const detail = String((err as { stderr?: string }).stderr || err).trimEnd();
        result.failures.push(`${relative(root, u.source)}:\n${detail.replace(/^/gm, '  ')}`);
        console.log(`✗ ${u.name.padEnd(22)} failed`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
  return result;
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
  const native = await buildNative(force, jobs);
  failures.push(...native.failures);
  const seconds = ((performance.now() - start) / 1000).toFixed(2);
  if (failures.length > 0) {
    console.error(`\nbuild: ${failures.length} failed:\n\n${failures.join('\n\n')}`);
    process.exit(1);
  }
  console.log(
    `build: ${todo.length + native.compiled} compiled, ${all.length - todo.length + native.upToDate} up to date, ${seconds} s (${threads} thread(s))`,
  );
}

if (isMainThread) {
  await main();
} else {
  parentPort?.on('message', async (u: Unit) => {
    parentPort?.postMessage(await compile(u));
  });
}
