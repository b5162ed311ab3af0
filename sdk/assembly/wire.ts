// The ABI's wire format on the module side (protocol/abi.md, "Request encoding" / "Response encoding"):
// u32 little-endian lengths and UTF-8 bytes, read and written in one pass straight from and into linear memory.

/** One HTTP header. Names on the wire are lower-case; the SDK lower-cases names it is given. */
export class Header {
  name: string;
  value: string;
  constructor(name: string, value: string) {
    this.name = name;
    this.value = value;
  }
}

/** ASCII-only lower-casing: header names are ASCII tokens, and String#toLowerCase drags in Unicode tables. */
export function asciiLower(s: string): string {
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
    i++;
  }
  if (i == n) return s;
  const out = changetype<string>(__new(<usize>n << 1, idof<string>()));
  const src = changetype<usize>(s);
  const dst = changetype<usize>(out);
  for (let j = 0; j < n; j++) {
    const c = load<u16>(src + (<usize>j << 1));
    store<u16>(dst + (<usize>j << 1), c >= 65 && c <= 90 ? c + 32 : c);
  }
  return out;
}

/** The value of the first header called `name` (case-insensitive), or null. */
export function findHeader(headers: Header[], name: string): string | null {
  const lower = asciiLower(name);
  for (let i = 0, n = headers.length; i < n; i++) {
    const h = unchecked(headers[i]);
    if (h.name == lower) return h.value;
  }
  return null;
}

export function utf8Text(bytes: Uint8Array): string {
  return String.UTF8.decodeUnsafe(bytes.dataStart, <usize>bytes.length);
}

/** Reads fields in order from [ptr, ptr+len). A length past the end clears `ok`; later reads yield empty fields. */
export class WireReader {
  ptr: usize;
  end: usize;
  ok: bool = true;

  constructor(ptr: usize, len: usize) {
    this.ptr = ptr;
    this.end = ptr + len;
  }

  u32(): u32 {
    if (!this.ok || this.end - this.ptr < 4) {
      this.ok = false;
      return 0;
    }
    const v = load<u32>(this.ptr);
    this.ptr += 4;
    return v;
  }

  /** Consumes a length-prefixed field; returns its start, or 0 (and clears ok) if it runs past the end. */
  private field(): usize {
    const len = <usize>this.u32();
    if (!this.ok || this.end - this.ptr < len) {
      this.ok = false;
      return 0;
    }
    const at = this.ptr;
    this.ptr += len;
    return at;
  }

  str(): string {
    const at = this.field();
    if (!this.ok) return "";
    return String.UTF8.decodeUnsafe(at, this.ptr - at);
  }

  bytes(): Uint8Array {
    const at = this.field();
    if (!this.ok) return new Uint8Array(0);
    const len = <i32>(this.ptr - at);
    const out = new Uint8Array(len);
    memory.copy(out.dataStart, at, <usize>len);
    return out;
  }

  headers(): Header[] {
    const n = this.u32();
    // Each header takes at least 8 bytes: a count larger than what is left is a lie, refused before allocating.
    if (!this.ok || <u64>n * 8 > <u64>(this.end - this.ptr)) {
      this.ok = false;
      return [];
    }
    const out = new Array<Header>(<i32>n);
    for (let i: i32 = 0; i < <i32>n; i++) {
      const name = this.str();
      const value = this.str();
      unchecked((out[i] = new Header(name, value)));
    }
    return out;
  }

  /** True when every field was read and nothing is left over. */
  done(): bool {
    return this.ok && this.ptr == this.end;
  }
}

/** Encoded size of a string field: its u32 length plus its UTF-8 bytes. */
export function strSize(s: string): usize {
  return 4 + <usize>String.UTF8.byteLength(s);
}

export function headersSize(headers: Header[]): usize {
  let size: usize = 4;
  for (let i = 0, n = headers.length; i < n; i++) {
    const h = unchecked(headers[i]);
    size += strSize(h.name) + strSize(h.value);
  }
  return size;
}

/** Writes fields in order from `ptr`; the caller sized the buffer with strSize/headersSize. */
export class WireWriter {
  ptr: usize;

  constructor(ptr: usize) {
    this.ptr = ptr;
  }

  u32(v: u32): void {
    store<u32>(this.ptr, v);
    this.ptr += 4;
  }

  str(s: string): void {
    const written = String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.ptr + 4);
    store<u32>(this.ptr, <u32>written);
    this.ptr += 4 + written;
  }

  bytes(b: Uint8Array): void {
    const len = <usize>b.length;
    store<u32>(this.ptr, <u32>len);
    memory.copy(this.ptr + 4, b.dataStart, len);
    this.ptr += 4 + len;
  }

  headers(headers: Header[]): void {
    const n = headers.length;
    this.u32(<u32>n);
    for (let i = 0; i < n; i++) {
      const h = unchecked(headers[i]);
      this.str(h.name);
      this.str(h.value);
    }
  }
}

// Scratch memory for host-call arguments (keys, values, encoded requests, log lines): the host copies them
// before the call returns, so one raw buffer serves every call and they allocate no garbage. Buffers over
// SCRATCH_KEEP are allocated for the call and freed after, so the kept buffer stays small.
const SCRATCH_KEEP: usize = 64 * 1024;
let scratchPtr: usize = 0;
let scratchCap: usize = 0;

/** `size` bytes of raw memory for one host call; give it back with releaseScratch before the next. */
export function takeScratch(size: usize): usize {
  if (size > SCRATCH_KEEP) return heap.alloc(size);
  if (size > scratchCap) {
    if (scratchPtr != 0) heap.free(scratchPtr);
    scratchCap = max<usize>(size, 256);
    scratchPtr = heap.alloc(scratchCap);
  }
  return scratchPtr;
}

export function releaseScratch(ptr: usize): void {
  if (ptr != scratchPtr) heap.free(ptr);
}

/** Writes the UTF-8 of `s` at `ptr` and returns the byte count (String.UTF8.byteLength(s) bytes). */
export function writeUtf8(s: string, ptr: usize): usize {
  return String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, ptr);
}
