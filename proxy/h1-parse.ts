// HTTP/1.1 message heads and body framing for the passthrough fast path (RFC 9112). Deliberately narrow:
// a request head is accepted only in the plain form almost every client sends (origin-form target, one Host,
// at most one Content-Length, no Transfer-Encoding, Upgrade or Expect); anything else is left to Node's own
// parser on the slow path, which answers malformed input with the right 4xx. A response head or chunked
// body this parser cannot vouch for is the upstream's fault (502), never forwarded on a guess.

export interface RequestHead {
  method: string;
  /** Origin-form target as sent: path and query. */
  target: string;
  /** The target's path (before "?"). */
  path: string;
  /** Host header value as sent. */
  host: string;
  /** Header names and values as sent, flattened [name, value, ...] like Node's rawHeaders. */
  headers: string[];
  /** Declared body length (0 without Content-Length). */
  contentLength: number;
  /** False when the client asked to close after this exchange (Connection: close). */
  keepAlive: boolean;
  /** Bytes of the head, its final empty line included. */
  length: number;
}

export interface ResponseHead {
  status: number;
  /** The status line's reason phrase ("" when absent). */
  reason: string;
  /** HTTP/1.0 upstreams close after each answer. */
  http10: boolean;
  headers: string[];
  /** How the body ends: none, after `contentLength` bytes, at the last chunk, or when the upstream closes. */
  framing: 'none' | 'length' | 'chunked' | 'close';
  contentLength: number;
  /** The upstream will close (or may not be reused) after this answer. */
  close: boolean;
  /** Seconds the upstream keeps an idle connection (its Keep-Alive: timeout=N), when it says. */
  keepAliveSeconds: number | undefined;
  length: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Where the head in `buf` ends (index just past its empty line), or -1 while it is incomplete. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf(CRLFCRLF);
  return i < 0 ? -1 : i + 4;
}

// Control characters, and CR or LF anywhere but as a CRLF pair (bare CR/LF ends lines differently for
// different parsers: the root of request smuggling).
const FORBIDDEN = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE|PATCH|OPTIONS) (\/[\x21-\x7e]*) HTTP\/1\.1$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([^\r\n]*))?$/;
const DIGITS = /^\d{1,15}$/;
const OWS = /^[ \t]+|[ \t]+$/g;

/** Splits the header lines of `lines` (from index 1) into [name, value, ...]; undefined if one is malformed. */
function headerFields(lines: string[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // No colon, an empty name, or whitespace before the colon or at the line's start (obs-fold).
    if (colon < 1 || !TOKEN.test(line.slice(0, colon))) return undefined;
    out.push(line.slice(0, colon), line.slice(colon + 1).replace(OWS, ''));
  }
  return out;
}

function headLines(buf: Buffer, length: number): string[] | undefined {
  const text = buf.toString('latin1', 0, length - 4);
  if (FORBIDDEN.test(text)) return undefined;
  return text.split('\r\n');
}

/** Request headers the fast path leaves to the slow path: they change how the exchange runs. */
const SLOW_REQUEST_HEADERS = new Set([
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'http2-settings',
  'proxy-connection',
]);

/**
 * The request head at the start of `buf`, which ends at `length` (from headEnd), if the fast path may carry
 * it; undefined sends the request to the slow path (which also judges whether it is malformed).
 */
export function parseRequestHead(buf: Buffer, length: number, maxHeaders: number): RequestHead | undefined {
  const lines = headLines(buf, length);
  if (lines === undefined || lines.length - 1 > maxHeaders) return undefined;
  const line = REQUEST_LINE.exec(lines[0]!);
  if (line === null) return undefined;
  const headers = headerFields(lines);
  if (headers === undefined) return undefined;
  let host: string | undefined;
  let contentLength: string | undefined;
  let keepAlive = true;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    if (name === 'host') {
      if (host !== undefined) return undefined;
      host = value;
    } else if (name === 'content-length') {
      if (contentLength !== undefined || !DIGITS.test(value)) return undefined;
      contentLength = value;
    } else if (name === 'connection') {
      for (const token of value.toLowerCase().split(',')) {
        const t = token.trim();
        if (t === 'close') keepAlive = false;
        else if (t !== 'keep-alive' && t !== '') return undefined;
      }
    } else if (SLOW_REQUEST_HEADERS.has(name)) {
      return undefined;
    }
  }
  if (host === undefined) return undefined;
  const target = line[2]!;
  const q = target.indexOf('?');
  return {
    method: line[1]!,
    target,
    path: q < 0 ? target : target.slice(0, q),
    host,
    headers,
    contentLength: contentLength === undefined ? 0 : Number(contentLength),
    keepAlive,
    length,
  };
}

/**
 * The response head at the start of `buf` (ending at `length`) to a request of `method`; a string says what
 * is wrong with it.
 */
export function parseResponseHead(buf: Buffer, length: number, method: string): ResponseHead | string {
  const lines = headLines(buf, length);
  if (lines === undefined) return 'the response head holds control characters or bare line ends';
  const line = STATUS_LINE.exec(lines[0]!);
  if (line === null) return `malformed status line ${JSON.stringify(lines[0]!.slice(0, 100))}`;
  const headers = headerFields(lines);
  if (headers === undefined) return 'malformed response header line';
  const status = Number(line[2]);
  const http10 = line[1] === '0';
  let transferEncoding: string | undefined;
  let contentLength: string | undefined;
  let close = http10;
  let keepAliveSeconds: number | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    if (name === 'transfer-encoding') {
      if (transferEncoding !== undefined) return 'more than one Transfer-Encoding header';
      transferEncoding = value.toLowerCase();
    } else if (name === 'content-length') {
      if (!DIGITS.test(value)) return `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`;
      if (contentLength !== undefined && contentLength !== value) return 'conflicting Content-Length headers';
      contentLength = value;
    } else if (name === 'connection') {
      const tokens = value.toLowerCase().split(',');
      if (tokens.some((t) => t.trim() === 'close')) close = true;
      else if (http10 && tokens.some((t) => t.trim() === 'keep-alive')) close = false;
    } else if (name === 'keep-alive') {
      const m = /timeout=(\d+)/i.exec(value);
      if (m) keepAliveSeconds = Number(m[1]);
    }
  }
  const head = {
    status,
    reason: line[3] ?? '',
    http10,
    headers,
    contentLength: 0,
    close,
    keepAliveSeconds,
    length,
  };
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200)
    return { ...head, framing: 'none' };
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) return 'both Transfer-Encoding and Content-Length';
    if (transferEncoding !== 'chunked') return `unsupported Transfer-Encoding "${transferEncoding}"`;
    return { ...head, framing: 'chunked' };
  }
  if (contentLength !== undefined)
    return { ...head, framing: 'length', contentLength: Number(contentLength) };
  return { ...head, framing: 'close', close: true };
}

// States of ChunkedFraming (plain numbers: type stripping has no enums).
const SIZE = 0;
const EXTENSION = 1;
const SIZE_LF = 2;
const DATA = 3;
const DATA_CR = 4;
const DATA_LF = 5;
const TRAILER_START = 6;
const TRAILER_LINE = 7;
const TRAILER_LF = 8;
const END_LF = 9;
const DONE = 10;

/**
 * Follows a chunked body as its bytes pass through unchanged, to know where it ends (RFC 9112 7.1): chunk
 * sizes in hex with optional extensions, each chunk's CRLF, then trailer lines and an empty line.
 */
export class ChunkedFraming {
  private state = SIZE;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private lineLength = 0;

  get done(): boolean {
    return this.state === DONE;
  }

  /**
   * Reads `buf` from `start`; returns how many bytes belong to the body (all of them unless it ended inside),
   * or a string saying what is malformed.
   */
  feed(buf: Buffer, start = 0): number | string {
    let i = start;
    while (i < buf.length && this.state !== DONE) {
      if (this.state === DATA) {
        const take = Math.min(this.remaining, buf.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = DATA_CR;
        continue;
      }
      const c = buf[i++]!;
      switch (this.state) {
        case SIZE: {
          const v = hexValue(c);
          if (v >= 0) {
            if (++this.digits > 12) return 'chunk size too large';
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) {
            return 'chunk size missing';
          } else if (c === 0x0d) {
            this.state = SIZE_LF;
          } else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) {
            this.state = EXTENSION;
          } else {
            return 'invalid chunk size';
          }
          break;
        }
        case EXTENSION:
          if (c === 0x0d) this.state = SIZE_LF;
          else if (c === 0x0a || c < 0x09 || (c > 0x09 && c < 0x20) || c === 0x7f)
            return 'invalid chunk extension';
          break;
        case SIZE_LF:
          if (c !== 0x0a) return 'chunk size line not ended by CRLF';
          if (this.size === 0) {
            this.state = TRAILER_START;
          } else {
            this.remaining = this.size;
            this.state = DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case DATA_CR:
          if (c !== 0x0d) return 'chunk data not followed by CRLF';
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== 0x0a) return 'chunk data not followed by CRLF';
          this.state = SIZE;
          break;
        case TRAILER_START:
          if (c === 0x0d) {
            this.state = END_LF;
          } else {
            this.lineLength = 0;
            this.state = TRAILER_LINE;
            i--;
          }
          break;
        case TRAILER_LINE:
          if (c === 0x0d) this.state = TRAILER_LF;
          else if (c === 0x0a || (c < 0x20 && c !== 0x09) || c === 0x7f) return 'invalid trailer line';
          else if (++this.lineLength > 16 * 1024) return 'trailer line too long';
          break;
        case TRAILER_LF:
          if (c !== 0x0a) return 'trailer line not ended by CRLF';
          this.state = TRAILER_START;
          break;
        case END_LF:
          if (c !== 0x0a) return 'chunked body not ended by CRLF';
          this.state = DONE;
          break;
      }
    }
    return i - start;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
