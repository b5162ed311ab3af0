// Makes a module interruptible. Node has no Wasm fuel, so at load the host rewrites the module: it imports
// one more memory, `roam.interrupt` (a shared page the host owns), and at the head of every loop it inserts
//   if (i32.atomic.load(interrupt, 0) < 0) unreachable
// A watchdog thread negates that word when an invocation passes its deadline, so a module stuck in a loop traps
// at its next iteration, wherever it runs (inline on the event loop or on a worker), and the thread survives.
// The check is one load and one branch per iteration; no counter is kept.
import { ModuleInvalidError } from '../core/errors.ts';
import type { ModuleInfo } from './module-check.ts';
import { encodeName, encodeU32, Reader, readSections, SECTION, scanInstructions } from './wasm-binary.ts';

export const INTERRUPT_IMPORT = { module: 'roam', name: 'interrupt' } as const;

function check(memoryIndex: number): number[] {
  return [
    0x41,
    0x00, // i32.const 0
    0xfe,
    0x10,
    0x42,
    ...encodeU32(memoryIndex),
    0x00, // i32.atomic.load align=4 memory=interrupt offset=0
    0x41,
    0x00, // i32.const 0
    0x48, // i32.lt_s
    0x04,
    0x40, // if
    0x00, // unreachable
    0x0b, // end
  ];
}

function section(id: number, payload: number[] | Uint8Array): Uint8Array {
  const size = encodeU32(payload.length);
  const out = new Uint8Array(1 + size.length + payload.length);
  out[0] = id;
  out.set(size, 1);
  out.set(payload, 1 + size.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function rewriteImports(bytes: Uint8Array, start: number, end: number, info: ModuleInfo): Uint8Array {
  const r = new Reader(bytes, start, end);
  r.u32();
  const rest = bytes.subarray(r.pos, end);
  const entry = [
    ...encodeName(INTERRUPT_IMPORT.module),
    ...encodeName(INTERRUPT_IMPORT.name),
    0x02, // memory
    0x03, // limits: has maximum, shared
    0x01,
    0x01,
  ];
  return section(
    SECTION.import,
    concat([new Uint8Array(encodeU32(info.importCount + 1)), rest, new Uint8Array(entry)]),
  );
}

function lebLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function writeU32(out: Uint8Array, pos: number, v: number): number {
  for (const b of encodeU32(v)) out[pos++] = b;
  return pos;
}

// Two passes and one output buffer: find every loop head, then copy the bodies with the checks spliced in.
// (Copying piece by piece into per-function buffers cost more than the scan itself.)
function rewriteCode(bytes: Uint8Array, start: number, end: number, memoryIndex: number): Uint8Array {
  const r = new Reader(bytes, start, end);
  const count = r.u32();
  const insert = new Uint8Array(check(memoryIndex));
  const bodies: { start: number; end: number; size: number; loops: number[] }[] = [];
  let payload = lebLength(count);
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const bodyStart = r.pos;
    const bodyEnd = bodyStart + size;
    if (bodyEnd > end) throw new ModuleInvalidError(`function body ${i} runs past the code section`);
    const body = new Reader(bytes, bodyStart, bodyEnd);
    const localGroups = body.u32();
    for (let g = 0; g < localGroups; g++) {
      body.u32();
      body.byte();
    }
    const loops: number[] = [];
    scanInstructions(body, (offset) => loops.push(offset));
    const newSize = size + loops.length * insert.length;
    payload += lebLength(newSize) + newSize;
    bodies.push({ start: bodyStart, end: bodyEnd, size: newSize, loops });
    r.pos = bodyEnd;
  }
  const out = new Uint8Array(1 + lebLength(payload) + payload);
  out[0] = SECTION.code;
  let pos = writeU32(out, 1, payload);
  pos = writeU32(out, pos, count);
  for (const b of bodies) {
    pos = writeU32(out, pos, b.size);
    let from = b.start;
    for (const at of b.loops) {
      out.set(bytes.subarray(from, at), pos);
      pos += at - from;
      out.set(insert, pos);
      pos += insert.length;
      from = at;
    }
    out.set(bytes.subarray(from, b.end), pos);
    pos += b.end - from;
  }
  return out;
}

/** Returns the module with the interrupt import and a check at every loop head. */
export function addInterruptChecks(bytes: Uint8Array, info: ModuleInfo): Uint8Array {
  const sections = readSections(bytes);
  // The new memory import is the last memory import, so its index is the count of those before it; the
  // module's own memory indices do not move because ABI v1 modules define no memory of their own.
  const memoryIndex = info.memoryImportCount;
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let sawImports = false;
  for (const s of sections) {
    if (s.id === SECTION.import) {
      sawImports = true;
      parts.push(rewriteImports(bytes, s.start, s.end, info));
    } else if (s.id === SECTION.code) {
      parts.push(rewriteCode(bytes, s.start, s.end, memoryIndex));
    } else {
      parts.push(bytes.subarray(s.headerStart, s.end));
    }
  }
  // checkModule guarantees an import section (env.memory is required).
  if (!sawImports) throw new ModuleInvalidError('module has no import section');
  return concat(parts);
}
