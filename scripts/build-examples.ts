// Compiles the example endpoints (examples/endpoints/NAME/index.ts -> build/endpoints/NAME.wasm) and the host's
// test fixtures (wasm-host/test/fixtures/NAME.ts -> build/fixtures/NAME.wasm) from source with AssemblyScript's
// compiler API, in process. A module is rebuilt only when a source (its own or the SDK's) is newer, unless
// --force. A fixture can override flags with a first line "// roam-build: FLAGS" (e.g. --noImportMemory).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import asc from 'assemblyscript/asc';

const root = new URL('..', import.meta.url).pathname;
const force = process.argv.includes('--force');

// -O3 with the incremental GC: instances serve many requests, so memory must be reclaimed between them.
const BASE_FLAGS = ['-O3', '--runtime', 'incremental', '--importMemory', '--noAssert'];

interface Unit {
  name: string;
  source: string;
  output: string;
  flags: string[];
}

function newestIn(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function overrides(source: string): string[] {
  const first = readFileSync(source, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^\/\/ roam-build: (.*)$/.exec(first);
  return m ? m[1]!.trim().split(/\s+/) : [];
}

function flagsFor(source: string): string[] {
  const extra = overrides(source);
  const base = extra.includes('--noImportMemory')
    ? BASE_FLAGS.filter((f) => f !== '--importMemory')
    : BASE_FLAGS;
  return [...base, ...extra.filter((f) => f !== '--noImportMemory')];
}

function units(): Unit[] {
  const out: Unit[] = [];
  const endpoints = join(root, 'examples/endpoints');
  for (const name of readdirSync(endpoints).sort()) {
    const source = join(endpoints, name, 'index.ts');
    if (existsSync(source))
      out.push({
        name,
        source,
        output: join(root, 'build/endpoints', `${name}.wasm`),
        flags: flagsFor(source),
      });
  }
  const fixtures = join(root, 'wasm-host/test/fixtures');
  for (const file of readdirSync(fixtures).sort()) {
    if (!file.endsWith('.ts')) continue;
    const source = join(fixtures, file);
    const name = file.slice(0, -3);
    out.push({
      name: `fixtures/${name}`,
      source,
      output: join(root, 'build/fixtures', `${name}.wasm`),
      flags: flagsFor(source),
    });
  }
  return out;
}

async function compile(unit: Unit): Promise<string | undefined> {
  let stderr = '';
  const { error } = await asc.main([unit.source, '-o', unit.output, ...unit.flags], {
    stderr: {
      write(chunk: string | Uint8Array) {
        stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
        return true;
      },
    } as never,
  });
  return error ? `${unit.name}: ${error.message}\n${stderr}` : undefined;
}

const sdkNewest = newestIn(join(root, 'sdk/assembly'));
mkdirSync(join(root, 'build/endpoints'), { recursive: true });
mkdirSync(join(root, 'build/fixtures'), { recursive: true });
const start = performance.now();
const failures: string[] = [];
for (const unit of units()) {
  const sourceNewest = Math.max(sdkNewest, newestIn(join(unit.source, '..')));
  if (!force && existsSync(unit.output) && statSync(unit.output).mtimeMs > sourceNewest) continue;
  const failure = await compile(unit);
  if (failure) failures.push(failure);
  else
    console.log(
      `built ${unit.name.padEnd(22)} ${(statSync(unit.output).size / 1024).toFixed(1).padStart(6)} KB`,
    );
}
if (failures.length > 0) {
  console.error(`\n${failures.length} module(s) failed to compile:\n${failures.join('\n')}`);
  process.exit(1);
}
console.log(`build: done in ${((performance.now() - start) / 1000).toFixed(2)} s`);
