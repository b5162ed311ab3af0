// Host side of the endpoint ABI's wire format (protocol/abi.md): HTTP-shaped requests and responses as
// length-prefixed UTF-8 fields, little-endian. Decoding treats the bytes as hostile: every length is checked
// against the buffer before it is used.
import { EndpointBadResponseError } from '../core/errors.ts';

export type HeaderList = [name: string, value: string][];

export interface EndpointRequest {
  method: string;
  /** Path without the query, starting with "/". */
  path: string;
  /** Raw query string without "?". */
  query: string;
  /** Lower-case names. */
  headers: HeaderList;
  body: Uint8Array;
}

export interface EndpointResponse {
  status: number;
  headers: HeaderList;
  body: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function strLen(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

export function requestSize(req: EndpointRequest): number {
  let size = 20 + strLen(req.method) + strLen(req.path) + strLen(req.query) + req.body.length;
  for (const [k, v] of req.headers) size += 8 + strLen(k) + strLen(v);
  return size;
}

export function responseSize(res: EndpointResponse): number {
  let size = 12 + res.body.length;
  for (const [k, v] of res.headers) size += 8 + strLen(k) + strLen(v);
  return size;
}

class Writer {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  pos: number;

  constructor(bytes: Uint8Array, offset: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = offset;
  }

  u32(v: number): void {
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  str(s: string): void {
    const { written } = encoder.encodeInto(s, this.bytes.subarray(this.pos + 4));
    this.u32(written);
    this.pos += written;
  }

  raw(b: Uint8Array): void {
    this.u32(b.length);
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }

  headers(h: HeaderList): void {
    this.u32(h.length);
    for (const [k, v] of h) {
      this.str(k);
      this.str(v);
    }
  }
}

/** Writes `req` into `target` at `offset`; `target` must have requestSize(req) bytes free there. */
export function writeRequest(req: EndpointRequest, target: Uint8Array, offset: number): number {
  const w = new Writer(target, offset);
  w.str(req.method);
  w.str(req.path);
  w.str(req.query);
  w.headers(req.headers);
  w.raw(req.body);
  return w.pos - offset;
}

export function encodeRequest(req: EndpointRequest): Uint8Array {
  const out = new Uint8Array(requestSize(req));
  writeRequest(req, out, 0);
  return out;
}

export function encodeResponse(res: EndpointResponse): Uint8Array {
  const out = new Uint8Array(responseSize(res));
  const w = new Writer(out, 0);
  w.u32(res.status);
  w.headers(res.headers);
  w.raw(res.body);
  return out;
}

class Cursor {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  pos: number;
  private readonly end: number;
  private readonly what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.end = bytes.length;
    this.what = what;
  }

  private need(n: number): void {
    if (n > this.end - this.pos) {
      throw new EndpointBadResponseError(`${this.what} is truncated at byte ${this.pos} (needs ${n} more)`);
    }
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  bytesField(copy: boolean): Uint8Array {
    const len = this.u32();
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return copy ? this.bytes.slice(start, start + len) : this.bytes.subarray(start, start + len);
  }

  str(): string {
    return decoder.decode(this.bytesField(false));
  }

  headers(): HeaderList {
    const n = this.u32();
    // Each header takes at least 8 bytes, so a count larger than what remains is a lie, caught before looping.
    this.need(n * 8);
    const out: HeaderList = [];
    for (let i = 0; i < n; i++) out.push([this.str(), this.str()]);
    return out;
  }

  done(): void {
    if (this.pos !== this.end)
      throw new EndpointBadResponseError(`${this.what} has ${this.end - this.pos} trailing bytes`);
  }
}

/** Decodes a response; the body is copied out so the source (an instance's memory) can be reused. */
export function decodeResponse(bytes: Uint8Array): EndpointResponse {
  const c = new Cursor(bytes, 'response');
  const status = c.u32();
  const headers = c.headers();
  const body = c.bytesField(true);
  c.done();
  return { status, headers, body };
}

export function decodeRequest(bytes: Uint8Array): EndpointRequest {
  const c = new Cursor(bytes, 'request');
  const method = c.str();
  const path = c.str();
  const query = c.str();
  const headers = c.headers();
  const body = c.bytesField(true);
  c.done();
  return { method, path, query, headers, body };
}

/** Encodes a list of keys as `kv_list` stages it: u32 count, then u32 length + bytes per key. */
export function encodeKeyList(keys: string[]): Uint8Array {
  let size = 4;
  const encoded = keys.map((k) => encoder.encode(k));
  for (const k of encoded) size += 4 + k.length;
  const out = new Uint8Array(size);
  const w = new Writer(out, 0);
  w.u32(keys.length);
  for (const k of encoded) w.raw(k);
  return out;
}
