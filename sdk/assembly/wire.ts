// The ABI's wire format on the module side: length-prefixed UTF-8 fields, little-endian, read and written in
// one pass straight from and into linear memory.

export class Header {
  name: string;
  value: string;
  constructor(name: string, value: string) {
    this.name = name;
    this.value = value;
  }
}

/** The value of header `name` (case-insensitive; stored names are lower-case), or null. */
export function findHeader(headers: Header[], name: string): string | null {
  const lower = name.toLowerCase();
  for (let i = 0; i < headers.length; i++) if (headers[i].name == lower) return headers[i].value;
  return null;
}

export function utf8Text(bytes: Uint8Array): string {
  return String.UTF8.decodeUnsafe(bytes.dataStart, <usize>bytes.length);
}

/** Reads fields from a buffer in linear memory; a length that runs past the end yields empty fields. */
export class WireReader {
  ptr: usize;
  end: usize;
  ok: bool = true;

  constructor(ptr: usize, len: i32) {
    this.ptr = ptr;
    this.end = ptr + <usize>len;
  }

  u32(): u32 {
    if (this.ptr + 4 > this.end) {
      this.ok = false;
      return 0;
    }
    const v = load<u32>(this.ptr);
    this.ptr += 4;
    return v;
  }

  str(): string {
    const len = <usize>this.u32();
    if (this.ptr + len > this.end) {
      this.ok = false;
      return "";
    }
    const s = String.UTF8.decodeUnsafe(this.ptr, len);
    this.ptr += len;
    return s;
  }

  bytes(): Uint8Array {
    const len = <i32>this.u32();
    if (this.ptr + <usize>len > this.end) {
      this.ok = false;
      return new Uint8Array(0);
    }
    const out = new Uint8Array(len);
    memory.copy(out.dataStart, this.ptr, <usize>len);
    this.ptr += <usize>len;
    return out;
  }

  headers(): Header[] {
    const n = <i32>this.u32();
    const out = new Array<Header>();
    for (let i = 0; i < n && this.ok; i++) {
      const name = this.str();
      const value = this.str();
      out.push(new Header(name, value));
    }
    return out;
  }
}

export function strSize(s: string): usize {
  return 4 + <usize>String.UTF8.byteLength(s);
}

export function headersSize(headers: Header[]): usize {
  let size: usize = 4;
  for (let i = 0; i < headers.length; i++) size += strSize(headers[i].name) + strSize(headers[i].value);
  return size;
}

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
    store<u32>(this.ptr, <u32>b.length);
    memory.copy(this.ptr + 4, b.dataStart, <usize>b.length);
    this.ptr += 4 + <usize>b.length;
  }

  headers(headers: Header[]): void {
    this.u32(<u32>headers.length);
    for (let i = 0; i < headers.length; i++) {
      this.str(headers[i].name);
      this.str(headers[i].value);
    }
  }
}
