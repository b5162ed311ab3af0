// Request and Response: what an endpoint handler receives and returns.
import { findHeader, Header, headersSize, strSize, utf8Text, WireReader, WireWriter } from "./wire";

function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Decodes %XX escapes and "+" (as in form and query encoding); malformed escapes are kept as they are. */
export function urlDecode(s: string): string {
  const bytes = String.UTF8.encode(s);
  const src = Uint8Array.wrap(bytes);
  const out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = <i32>src[i];
    if (c == 43) {
      out[n++] = 32;
    } else if (c == 37 && i + 2 < src.length && hexValue(src[i + 1]) >= 0 && hexValue(src[i + 2]) >= 0) {
      out[n++] = <u8>((hexValue(src[i + 1]) << 4) | hexValue(src[i + 2]));
      i += 2;
    } else {
      out[n++] = <u8>c;
    }
  }
  return String.UTF8.decodeUnsafe(out.dataStart, <usize>n);
}

/** Looks `name` up in an application/x-www-form-urlencoded string (a query or a form body). */
export function formValue(encoded: string, name: string): string | null {
  if (encoded.length == 0) return null;
  const pairs = encoded.split("&");
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i];
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.substring(0, eq);
    if (urlDecode(key) == name) return eq < 0 ? "" : urlDecode(pair.substring(eq + 1));
  }
  return null;
}

export class Request {
  method: string;
  /** The path without the query, starting with "/". */
  path: string;
  /** The raw query string, without "?". */
  rawQuery: string;
  headers: Header[];
  body: Uint8Array;

  constructor(method: string, path: string, rawQuery: string = "", headers: Header[] = [], body: Uint8Array = new Uint8Array(0)) {
    this.method = method;
    this.path = path;
    this.rawQuery = rawQuery;
    this.headers = headers;
    this.body = body;
  }

  static decode(ptr: usize, len: i32): Request | null {
    const r = new WireReader(ptr, len);
    const method = r.str();
    const path = r.str();
    const query = r.str();
    const headers = r.headers();
    const body = r.bytes();
    return r.ok ? new Request(method, path, query, headers, body) : null;
  }

  /** A query parameter, URL-decoded; null when absent. */
  query(name: string): string | null {
    return formValue(this.rawQuery, name);
  }

  /** A header value (names are lower-case); null when absent. */
  header(name: string): string | null {
    return findHeader(this.headers, name);
  }

  /** The body as UTF-8 text. */
  text(): string {
    return utf8Text(this.body);
  }

  /** The path's segments: "/cart/42/items" -> ["cart", "42", "items"]. */
  segments(): string[] {
    const parts = this.path.split("/");
    const out = new Array<string>();
    for (let i = 0; i < parts.length; i++) if (parts[i].length > 0) out.push(urlDecode(parts[i]));
    return out;
  }

  setHeader(name: string, value: string): Request {
    this.headers.push(new Header(name.toLowerCase(), value));
    return this;
  }

  encodedSize(): usize {
    return strSize(this.method) + strSize(this.path) + strSize(this.rawQuery) + headersSize(this.headers) + 4 + <usize>this.body.length;
  }

  encodeInto(ptr: usize): void {
    const w = new WireWriter(ptr);
    w.str(this.method);
    w.str(this.path);
    w.str(this.rawQuery);
    w.headers(this.headers);
    w.bytes(this.body);
  }
}

export class Response {
  status: i32;
  headers: Header[];
  body: Uint8Array;

  constructor(status: i32, body: Uint8Array = new Uint8Array(0)) {
    this.status = status;
    this.headers = new Array<Header>();
    this.body = body;
  }

  static text(status: i32, text: string): Response {
    return new Response(status, Uint8Array.wrap(String.UTF8.encode(text))).setHeader("content-type", "text/plain; charset=utf-8");
  }

  /** `json` must already be serialized (see JsonWriter). */
  static json(status: i32, json: string): Response {
    return new Response(status, Uint8Array.wrap(String.UTF8.encode(json))).setHeader("content-type", "application/json");
  }

  static bytes(status: i32, body: Uint8Array, contentType: string = "application/octet-stream"): Response {
    return new Response(status, body).setHeader("content-type", contentType);
  }

  static status(status: i32): Response {
    return new Response(status);
  }

  static decode(ptr: usize, len: i32): Response | null {
    const r = new WireReader(ptr, len);
    const status = <i32>r.u32();
    const headers = r.headers();
    const body = r.bytes();
    if (!r.ok) return null;
    const res = new Response(status, body);
    res.headers = headers;
    return res;
  }

  setHeader(name: string, value: string): Response {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.headers.length; i++) {
      if (this.headers[i].name == lower) {
        this.headers[i].value = value;
        return this;
      }
    }
    this.headers.push(new Header(lower, value));
    return this;
  }

  header(name: string): string | null {
    return findHeader(this.headers, name);
  }

  text(): string {
    return utf8Text(this.body);
  }

  encodedSize(): usize {
    return 4 + headersSize(this.headers) + 4 + <usize>this.body.length;
  }

  encodeInto(ptr: usize): void {
    const w = new WireWriter(ptr);
    w.u32(<u32>this.status);
    w.headers(this.headers);
    w.bytes(this.body);
  }
}
