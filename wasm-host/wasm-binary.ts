// Just enough of the WebAssembly binary format to inspect a module's imports and memories and to insert the
// host's interrupt checks: LEB128, sections, and instruction immediates. Reading never trusts the input:
// every read is bounds-checked and a malformed module raises ModuleInvalidError.
import { ModuleInvalidError } from '../core/errors.ts';

export class Reader {
  pos: number;
  readonly bytes: Uint8Array;
  readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new ModuleInvalidError(`unexpected end of module at byte ${this.pos}`);
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new ModuleInvalidError(`LEB128 integer too long at byte ${this.pos}`);
    }
    if (result > 0xffffffff) throw new ModuleInvalidError(`u32 out of range at byte ${this.pos}`);
    return result;
  }

  /** A signed LEB128 of at most 32 bits (an i32.const immediate). */
  s32(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result |= (b & 0x7f) << shift;
      shift += 7;
      if (shift > 35) throw new ModuleInvalidError(`LEB128 integer too long at byte ${this.pos}`);
    } while (b & 0x80);
    return shift < 32 && b & 0x40 ? result | (-1 << shift) : result;
  }

  /** Skips a signed LEB128 of any width (i32/i64 constants, block types). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new ModuleInvalidError(`LEB128 integer too long at byte ${this.pos}`);
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw new ModuleInvalidError(`unexpected end of module at byte ${this.pos}`);
    this.pos += n;
  }

  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(start, start + len));
  }
}

export function encodeU32(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

export function encodeName(name: string): number[] {
  const utf8 = new TextEncoder().encode(name);
  return [...encodeU32(utf8.length), ...utf8];
}

export interface Section {
  id: number;
  /** Offset of the section's id byte. */
  headerStart: number;
  /** Offset of the payload (after id and size). */
  start: number;
  end: number;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ModuleInvalidError('not a WebAssembly module (bad magic number)');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new ModuleInvalidError('unsupported WebAssembly binary version (only version 1 core modules)');
  }
  const r = new Reader(bytes, 8);
  const sections: Section[] = [];
  while (r.pos < r.end) {
    const headerStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    sections.push({ id, headerStart, start, end: start + size });
  }
  return sections;
}

export const SECTION = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
} as const;

export interface Limits {
  min: number;
  max: number | undefined;
  shared: boolean;
}

export function readLimits(r: Reader): Limits {
  const flags = r.byte();
  if (flags & 0x04) throw new ModuleInvalidError('64-bit memories are not supported');
  const min = r.u32();
  const max = flags & 0x01 ? r.u32() : undefined;
  return { min, max, shared: (flags & 0x02) !== 0 };
}

export function skipValType(r: Reader): void {
  const t = r.byte();
  // Reference types with a heap type (typed function references / GC) carry one more immediate.
  if (t === 0x63 || t === 0x64) r.skipLeb();
}

/** Skips a block type: empty (0x40), a value type, or a type index (s33). */
function skipBlockType(r: Reader): void {
  const b = r.bytes[r.pos];
  if (
    b === 0x40 ||
    b === 0x7f ||
    b === 0x7e ||
    b === 0x7d ||
    b === 0x7c ||
    b === 0x7b ||
    b === 0x70 ||
    b === 0x6f
  ) {
    r.pos++;
    return;
  }
  r.skipLeb();
}

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory: an explicit memory index follows
  r.u32();
}

/**
 * Walks one function body's instructions, calling `onLoop` with the offset just after each `loop` header
 * (where the host inserts its interrupt check). Throws on opcodes it does not know, so a module using a
 * proposal the host cannot instrument is refused instead of run unchecked.
 */
export function scanInstructions(r: Reader, onLoop: (offset: number) => void): void {
  while (r.pos < r.end) {
    const op = r.byte();
    switch (op) {
      case 0x02: // block
      case 0x04: // if
      case 0x06: // try (legacy exceptions)
        skipBlockType(r);
        break;
      case 0x03: // loop
        skipBlockType(r);
        onLoop(r.pos);
        break;
      case 0x0c: // br
      case 0x0d: // br_if
      case 0x10: // call
      case 0x12: // return_call
      case 0x07: // catch
      case 0x08: // throw
      case 0x09: // rethrow
      case 0x18: // delegate
      case 0x20: // local.get
      case 0x21: // local.set
      case 0x22: // local.tee
      case 0x23: // global.get
      case 0x24: // global.set
      case 0x25: // table.get
      case 0x26: // table.set
      case 0xd2: // ref.func
      case 0x3f: // memory.size
      case 0x40: // memory.grow
        r.u32();
        break;
      case 0x0e: {
        // br_table
        const n = r.u32();
        for (let i = 0; i <= n; i++) r.u32();
        break;
      }
      case 0x11: // call_indirect
      case 0x13: // return_call_indirect
        r.u32();
        r.u32();
        break;
      case 0x1c: {
        // select with types
        const n = r.u32();
        for (let i = 0; i < n; i++) skipValType(r);
        break;
      }
      case 0x41: // i32.const
      case 0x42: // i64.const
        r.skipLeb();
        break;
      case 0x43: // f32.const
        r.skip(4);
        break;
      case 0x44: // f64.const
        r.skip(8);
        break;
      case 0xd0: // ref.null
        skipValType(r);
        break;
      case 0xfc:
        skipPrefixedFC(r);
        break;
      case 0xfd:
        skipPrefixedSimd(r);
        break;
      case 0xfe:
        skipPrefixedAtomic(r);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) {
          skipMemarg(r);
        } else if (
          op === 0x00 || // unreachable
          op === 0x01 || // nop
          op === 0x05 || // else
          op === 0x0b || // end
          op === 0x0f || // return
          op === 0x19 || // catch_all
          op === 0x1a || // drop
          op === 0x1b || // select
          op === 0xd1 || // ref.is_null
          (op >= 0x45 && op <= 0xc4) // numeric instructions without immediates
        ) {
          // no immediates
        } else {
          throw new ModuleInvalidError(
            `unsupported instruction 0x${op.toString(16)} at byte ${r.pos - 1} (the host cannot meter it)`,
          );
        }
    }
  }
}

function skipPrefixedFC(r: Reader): void {
  const sub = r.u32();
  if (sub <= 7) return; // saturating truncations
  switch (sub) {
    case 8: // memory.init
    case 10: // memory.copy
    case 12: // table.init
    case 14: // table.copy
      r.u32();
      r.u32();
      return;
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return;
    default:
      throw new ModuleInvalidError(`unsupported instruction 0xfc ${sub} at byte ${r.pos}`);
  }
}

function skipPrefixedSimd(r: Reader): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) {
    skipMemarg(r); // loads and stores
  } else if (sub >= 84 && sub <= 91) {
    skipMemarg(r); // lane loads and stores
    r.skip(1);
  } else if (sub === 12 || sub === 13) {
    r.skip(16); // v128.const, i8x16.shuffle
  } else if (sub >= 21 && sub <= 34) {
    r.skip(1); // extract/replace lane
  }
}

function skipPrefixedAtomic(r: Reader): void {
  const sub = r.u32();
  if (sub === 3) {
    r.skip(1); // atomic.fence
    return;
  }
  skipMemarg(r);
}
