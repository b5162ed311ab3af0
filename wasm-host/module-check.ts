// Checks a module against the endpoint ABI (protocol/abi.md) before anything runs it: its memory, its imports
// and their signatures, its exports, and the ABI version it speaks when that is a constant (as every compiler
// emits it). Every refusal names what was wrong.
import { ModuleInvalidError, ModuleUnsupportedError } from '../core/errors.ts';
import { type Limits, Reader, readLimits, readSections, SECTION } from './wasm-binary.ts';

export const ABI_VERSIONS: readonly number[] = [1];

/** Throws ModuleUnsupportedError unless this host speaks ABI `version`. */
export function checkAbiVersion(version: number, endpoint?: string): void {
  if (!ABI_VERSIONS.includes(version)) {
    throw new ModuleUnsupportedError(
      `module speaks ABI version ${version}; this host supports version ${ABI_VERSIONS.join(', ')}`,
      { endpoint },
    );
  }
}

/** Host functions a module may import, by "module.name", with their signatures ("params:results", i/I/f/F). */
export const ALLOWED_IMPORTS: Readonly<Record<string, string>> = {
  'roam.kv_get': 'iiii:i',
  'roam.kv_put': 'iiiiii:i',
  'roam.kv_delete': 'iiii:i',
  'roam.kv_list': 'iiiii:i',
  'roam.call': 'iiii:i',
  'roam.result_read': 'ii:i',
  'roam.log': 'iii:',
  'roam.now_ns': ':F',
  'roam.random_fill': 'ii:',
  // AssemblyScript's runtime hooks, accepted so its default output runs unchanged.
  'env.abort': 'iiii:',
  'env.seed': ':F',
  'env.trace': 'iiFFFFF:',
};

const REQUIRED_EXPORTS: Readonly<Record<string, string>> = {
  roam_abi_version: ':i',
  roam_alloc: 'i:i',
  roam_handle: 'ii:i',
};

export interface ModuleInfo {
  /** Limits of the module's imported env.memory. */
  memory: Limits;
  /** The `roam.*` host functions the module imports (what it may do: stores, calls, ...). */
  hostImports: string[];
  /** Number of imports, and of memory imports, before the host adds its own. */
  importCount: number;
  memoryImportCount: number;
}

const VALTYPE: Record<number, string> = { 127: 'i', 126: 'I', 125: 'f', 124: 'F', 123: 'v' };

function readTypes(bytes: Uint8Array, start: number, end: number): string[] {
  const r = new Reader(bytes, start, end);
  const count = r.u32();
  const types: string[] = [];
  for (let i = 0; i < count; i++) {
    const form = r.byte();
    if (form !== 0x60) {
      // GC proposal types (rec groups, structs, arrays): not part of ABI v1.
      throw new ModuleUnsupportedError(
        `type section entry ${i} is not a function type (form 0x${form.toString(16)})`,
      );
    }
    const sig = (n: number) => {
      let s = '';
      for (let j = 0; j < n; j++) s += VALTYPE[r.byte()] ?? '?';
      return s;
    };
    const params = sig(r.u32());
    const results = sig(r.u32());
    types.push(`${params}:${results}`);
  }
  return types;
}

/**
 * Inspects a module against the ABI; throws ModuleInvalidError / ModuleUnsupportedError naming the problem.
 * It reads the module's structure only: the engine validates the code when it compiles it (ModuleStore).
 */
export function checkModule(bytes: Uint8Array): ModuleInfo {
  try {
    return inspect(bytes);
  } catch (err) {
    if (err instanceof ModuleInvalidError) {
      throw new ModuleInvalidError(`not a valid WebAssembly module: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function inspect(bytes: Uint8Array): ModuleInfo {
  const sections = readSections(bytes);
  let types: string[] = [];
  const funcTypes: number[] = [];
  let memory: Limits | undefined;
  const hostImports: string[] = [];
  let importCount = 0;
  let memoryImportCount = 0;
  let importedFunctions = 0;
  let code: { start: number; end: number } | undefined;
  const exports = new Map<string, { kind: number; index: number }>();

  for (const s of sections) {
    const r = new Reader(bytes, s.start, s.end);
    if (s.id === SECTION.type) {
      types = readTypes(bytes, s.start, s.end);
    } else if (s.id === SECTION.import) {
      importCount = r.u32();
      for (let i = 0; i < importCount; i++) {
        const mod = r.name();
        const name = r.name();
        const kind = r.byte();
        const qualified = `${mod}.${name}`;
        if (kind === 0x00) {
          const typeIndex = r.u32();
          funcTypes.push(typeIndex);
          importedFunctions++;
          const expected = ALLOWED_IMPORTS[qualified];
          if (expected === undefined) {
            throw new ModuleUnsupportedError(
              `module imports function "${qualified}", which ABI v1 does not offer (allowed: ${Object.keys(ALLOWED_IMPORTS).join(', ')})`,
            );
          }
          const actual = types[typeIndex];
          if (actual !== expected) {
            throw new ModuleUnsupportedError(
              `module imports "${qualified}" with signature (${actual}), ABI v1 defines (${expected})`,
            );
          }
          if (mod === 'roam') hostImports.push(name);
        } else if (kind === 0x02) {
          memoryImportCount++;
          const limits = readLimits(r);
          if (qualified !== 'env.memory') {
            throw new ModuleUnsupportedError(
              `module imports memory "${qualified}"; ABI v1 provides only env.memory`,
            );
          }
          if (limits.shared) throw new ModuleUnsupportedError('env.memory must not be shared');
          memory = limits;
        } else {
          const what =
            kind === 0x01 ? 'table' : kind === 0x03 ? 'global' : kind === 0x04 ? 'tag' : `kind ${kind}`;
          throw new ModuleUnsupportedError(
            `module imports ${what} "${qualified}", which ABI v1 does not offer`,
          );
        }
      }
    } else if (s.id === SECTION.function) {
      const n = r.u32();
      for (let i = 0; i < n; i++) funcTypes.push(r.u32());
    } else if (s.id === SECTION.memory) {
      if (r.u32() > 0) {
        throw new ModuleUnsupportedError(
          'module defines its own memory; ABI v1 requires it to import env.memory (asc --importMemory)',
        );
      }
    } else if (s.id === SECTION.export) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        exports.set(name, { kind, index });
      }
    } else if (s.id === SECTION.code) {
      code = s;
    }
  }

  if (memory === undefined) {
    throw new ModuleUnsupportedError('module does not import env.memory, which ABI v1 requires');
  }
  for (const [name, sig] of Object.entries(REQUIRED_EXPORTS)) {
    const exp = exports.get(name);
    if (exp === undefined || exp.kind !== 0x00) {
      throw new ModuleUnsupportedError(`module does not export function "${name}", which ABI v1 requires`);
    }
    const actual = types[funcTypes[exp.index] ?? -1];
    if (actual !== sig) {
      throw new ModuleUnsupportedError(`export "${name}" has signature (${actual}), ABI v1 defines (${sig})`);
    }
  }
  if (exports.has('roam_interrupt')) {
    throw new ModuleUnsupportedError('module exports "roam_interrupt", a name the host reserves');
  }
  const version =
    code && constantResult(bytes, code, exports.get('roam_abi_version')!.index - importedFunctions);
  if (version !== undefined) checkAbiVersion(version);
  return { memory, hostImports, importCount, memoryImportCount };
}

/**
 * The value function `index` of the code section returns if its body is just `i32.const N` (optionally
 * followed by `return`); undefined for any other body, whose version is then checked at instantiation.
 */
function constantResult(
  bytes: Uint8Array,
  code: { start: number; end: number },
  index: number,
): number | undefined {
  const r = new Reader(bytes, code.start, code.end);
  const count = r.u32();
  if (index < 0 || index >= count) return undefined;
  for (let i = 0; i < index; i++) r.skip(r.u32());
  const size = r.u32();
  const body = new Reader(bytes, r.pos, r.pos + size);
  if (body.u32() !== 0 || body.byte() !== 0x41) return undefined; // no locals, i32.const
  const value = body.s32();
  let op = body.byte();
  if (op === 0x0f) op = body.byte(); // return
  return op === 0x0b && body.pos === body.end ? value : undefined; // end
}
