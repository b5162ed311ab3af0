// Recognises WebAssembly components (the component-model binary layer) beside ABI v1 core modules, and checks
// that a component is an HTTP handler: it must export wasi:http/incoming-handler (the wasi:http/proxy world).
import { ModuleInvalidError, ModuleUnsupportedError } from '../core/errors.ts';
import { Reader } from './wasm-binary.ts';

export const INCOMING_HANDLER = 'wasi:http/incoming-handler';

/** True for the component binary layer: magic, then version 0x0d and layer 1 (a core module has layer 0). */
export function isComponent(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 8 &&
    bytes[0] === 0x00 &&
    bytes[1] === 0x61 &&
    bytes[2] === 0x73 &&
    bytes[3] === 0x6d &&
    bytes[6] === 0x01 &&
    bytes[7] === 0x00
  );
}

export interface ComponentInfo {
  /** The component's top-level export names, versions included (wasi:http/incoming-handler@0.2.10). */
  exports: string[];
}

const EXPORT_SECTION = 11;

/** Throws ModuleUnsupportedError unless the component exports wasi:http/incoming-handler, naming what it does export. */
export function checkComponent(bytes: Uint8Array): ComponentInfo {
  let exports: string[];
  try {
    exports = topLevelExports(bytes);
  } catch (err) {
    throw new ModuleInvalidError(`not a valid WebAssembly component: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!exports.some((name) => name === INCOMING_HANDLER || name.startsWith(`${INCOMING_HANDLER}@`))) {
    throw new ModuleUnsupportedError(
      `component does not export "${INCOMING_HANDLER}", which Roam requires of a component (the wasi:http/proxy world); it exports ${exports.length ? exports.join(', ') : 'nothing'}`,
    );
  }
  return { exports };
}

/** The names in the component's top-level export sections (nested components and modules are not read). */
function topLevelExports(bytes: Uint8Array): string[] {
  const r = new Reader(bytes, 8, bytes.length);
  const names: string[] = [];
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    if (id === EXPORT_SECTION) {
      const s = new Reader(bytes, start, start + size);
      const count = s.u32();
      for (let i = 0; i < count; i++) {
        s.byte(); // 0x00 plain name, 0x01 name with a version suffix: a string either way
        names.push(s.name());
        skipSortIndex(s);
        if (s.byte() === 0x01) skipExternDesc(s);
      }
    }
    r.skip(size);
  }
  return names;
}

function skipSortIndex(r: Reader): void {
  if (r.byte() === 0x00) r.byte(); // a core sort carries its own sort byte
  r.u32();
}

function skipExternDesc(r: Reader): void {
  const kind = r.byte();
  if (kind === 0x00) r.byte(); // core module: 0x11 then its type index
  // A type bound of form 0x01 (a fresh resource) has nothing after it; every other bound an index or a type.
  if ((kind === 0x02 || kind === 0x03) && r.byte() === 0x01 && kind === 0x03) return;
  r.u32();
}
