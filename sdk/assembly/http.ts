// Request and Response: what a handler receives and returns, and their ABI encodings (wire.ts does the bytes).
import { asciiLower, findHeader, Header, headersSize, strSize, utf8Text, WireReader, WireWriter } from "./wire";

function hexValue(c: i32): i32 {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Decodes %XX escapes and "+" (space), as in query strings and form bodies, into UTF-8 text. A malformed escape
 * is kept as it is. Strings without "%" or "+" are returned unchanged, without allocating.
 */
export function urlDecode(s: string): string {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  const src = String.UTF8.encode(s);
  const p = changetype<usize>(src);
  const n = <usize>src.byteLength;
  // Decoding only shrinks, so it happens in place in the scratch copy.
  let w: usize = 0;
  for (let i: usize = 0; i < n; i++) {
    const c = load<u8>(p + i);
    let out = c;
    if (c == 43) {
      out = 32;
    } else if (c == 37 && i + 2 < n) {
      const hi = hexValue(load<u8>(p + i + 1));
      const lo = hexValue(load<u8>(p + i + 2));
      if (hi >= 0 && lo >= 0) {
        out = <u8>((hi << 4) | lo);
        i += 2;
      }
    }
    store<u8>(p + w, out);
    w++;
  }
  return String.UTF8.decodeUnsafe(p, w);
}

/**
 * The URL-decoded value of `name` in an application/x-www-form-urlencoded string (a query or a form body):
 * the first occurrence wins, "" for a bare `name`, null when absent.
 */
export function formValue(encoded: string, name: string): string | null {
  const n = encoded.length;
  let start = 0;
  while (start <= n) {
    let end = encoded.indexOf("&", start);
    if (end < 0) end = n;
    if (end > start) {
      let eq = encoded.indexOf("=", start);
      if (eq < 0 || eq > end) eq = end;
      if (urlDecode(encoded.substring(start, eq)) == name) {
        return eq == end ? "" : urlDecode(encoded.substring(eq + 1, end));
      }
    }
    start = end + 1;
  }
  return null;
}

/** A decimal integer (optional leading "-", digits only, at most 18 digits); `fallback` for anything else. */
export function parseDecimal(s: string, fallback: i64 = -1): i64 {
  const n = s.length;
  let i = 0;
  let neg = false;
  if (n > 0 && s.charCodeAt(0) == 45) {
    neg = true;
    i = 1;
  }
  if (i == n || n - i > 18) return fallback;
  let v: i64 = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return fallback;
    v = v * 10 + <i64>(c - 48);
  }
  return neg ? -v : v;
}

export class Request {
  /** "GET", "POST", ... as the client sent it. */
  method: string;
  /** The path without the query, starting with "/", still percent-encoded. */
  path: string;
  /** The raw query string, without "?". */
  rawQuery: string;
  /** In arrival order; names are lower-case. */
  headers: Header[];
  body: Uint8Array;

  constructor(
    method: string,
    path: string,
    rawQuery: string = "",
    headers: Header[] = [],
    body: Uint8Array = new Uint8Array(0),
  ) {
    this.method = method;
    this.path = path;
    this.rawQuery = rawQuery;
    this.headers = headers;
    this.body = body;
  }

  /** A request with a UTF-8 body, e.g. for callEndpoint. */
  static withText(method: string, path: string, rawQuery: string, body: string): Request {
    return new Request(method, path, rawQuery, [], Uint8Array.wrap(String.UTF8.encode(body)));
  }

  /** Decodes an ABI-encoded request at [ptr, ptr+len); null if it is malformed. Copies what it keeps. */
  static decode(ptr: usize, len: usize): Request | null {
    const r = new WireReader(ptr, len);
    const method = r.str();
    const path = r.str();
    const query = r.str();
    const headers = r.headers();
    const body = r.bytes();
    return r.done() ? new Request(method, path, query, headers, body) : null;
  }

  /** A query parameter, URL-decoded; null when absent. */
  query(name: string): string | null {
    return formValue(this.rawQuery, name);
  }

  /** The first header called `name` (case-insensitive); null when absent. */
  header(name: string): string | null {
    return findHeader(this.headers, name);
  }

  /** The body as UTF-8 text. */
  text(): string {
    return utf8Text(this.body);
  }

  /** The path's non-empty segments, URL-decoded: "/cart/42/items" -> ["cart", "42", "items"]. */
  segments(): string[] {
    const out = new Array<string>();
    const p = this.path;
    const n = p.length;
    let start = 0;
    while (start < n) {
      let end = p.indexOf("/", start);
      if (end < 0) end = n;
      if (end > start) out.push(urlDecode(p.substring(start, end)));
      start = end + 1;
    }
    return out;
  }

  /** Segment `i` of the path (see segments()), or null when the path is shorter. */
  segment(i: i32): string | null {
    const s = this.segments();
    return i >= 0 && i < s.length ? s[i] : null;
  }

  /** Sets a header, replacing any of the same name (names are lower-cased). */
  setHeader(name: string, value: string): Request {
    setIn(this.headers, name, value);
    return this;
  }

  encodedSize(): usize {
    return (
      strSize(this.method) + strSize(this.path) + strSize(this.rawQuery) + headersSize(this.headers) + 4 + <usize>this.body.length
    );
  }

  /** Writes the ABI encoding at `ptr`, which must have encodedSize() bytes. */
  encodeInto(ptr: usize): void {
    const w = new WireWriter(ptr);
    w.str(this.method);
    w.str(this.path);
    w.str(this.rawQuery);
    w.headers(this.headers);
    w.bytes(this.body);
  }
}

function setIn(headers: Header[], name: string, value: string): void {
  const lower = asciiLower(name);
  for (let i = 0, n = headers.length; i < n; i++) {
    const h = unchecked(headers[i]);
    if (h.name == lower) {
      h.value = value;
      return;
    }
  }
  headers.push(new Header(lower, value));
}

export class Response {
  /** 100..599; anything else becomes a 502 at the host. */
  status: i32;
  headers: Header[];
  body: Uint8Array;

  constructor(status: i32, body: Uint8Array = new Uint8Array(0)) {
    this.status = status;
    this.headers = new Array<Header>();
    this.body = body;
  }

  /** A UTF-8 text body, content-type text/plain. */
  static text(status: i32, text: string): Response {
    return new Response(status, Uint8Array.wrap(String.UTF8.encode(text))).setHeader("content-type", "text/plain; charset=utf-8");
  }

  /** An already serialized JSON document (see JsonWriter), content-type application/json. */
  static json(status: i32, json: string): Response {
    return new Response(status, Uint8Array.wrap(String.UTF8.encode(json))).setHeader("content-type", "application/json");
  }

  /** A binary body, application/octet-stream unless told otherwise. */
  static bytes(status: i32, body: Uint8Array, contentType: string = "application/octet-stream"): Response {
    return new Response(status, body).setHeader("content-type", contentType);
  }

  /** No body, no headers. */
  static status(status: i32): Response {
    return new Response(status);
  }

  /** Decodes an ABI-encoded response at [ptr, ptr+len); null if it is malformed. Copies what it keeps. */
  static decode(ptr: usize, len: usize): Response | null {
    const r = new WireReader(ptr, len);
    const status = <i32>r.u32();
    const headers = r.headers();
    const body = r.bytes();
    if (!r.done()) return null;
    const res = new Response(status, body);
    res.headers = headers;
    return res;
  }

  /** Sets a header, replacing any of the same name (names are lower-cased). */
  setHeader(name: string, value: string): Response {
    setIn(this.headers, name, value);
    return this;
  }

  /** Appends a header even if one of the same name exists (e.g. set-cookie). */
  addHeader(name: string, value: string): Response {
    this.headers.push(new Header(asciiLower(name), value));
    return this;
  }

  /** The first header called `name` (case-insensitive); null when absent. */
  header(name: string): string | null {
    return findHeader(this.headers, name);
  }

  /** The body as UTF-8 text. */
  text(): string {
    return utf8Text(this.body);
  }

  encodedSize(): usize {
    return 4 + headersSize(this.headers) + 4 + <usize>this.body.length;
  }

  /** Writes the ABI encoding at `ptr`, which must have encodedSize() bytes. */
  encodeInto(ptr: usize): void {
    const w = new WireWriter(ptr);
    w.u32(<u32>this.status);
    w.headers(this.headers);
    w.bytes(this.body);
  }
}
