// What the fuzz suites share: one fixed seed and a modest run count (ROAM_FUZZ_SEED and ROAM_FUZZ_RUNS run them
// longer), raw-socket exchanges with a liveness bound, a strict HTTP/1.1 response parser and HTTP/2 framing.
import net from 'node:net';
import fc from 'fast-check';
import { it } from 'vitest';

function intEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return n;
}

/** The seed every property starts from unless ROAM_FUZZ_SEED says otherwise (14: the issue that asked). */
export const FUZZ_SEED = intEnv('ROAM_FUZZ_SEED') ?? 14;

/** Every exchange must end (answer, close) within this: a liveness bound, not a performance assertion. */
export const EXCHANGE_BOUND_MS = 10_000;

/** The runs a property makes: its default, or ROAM_FUZZ_RUNS for every property. */
function fuzzRuns(defaultRuns: number): number {
  return intEnv('ROAM_FUZZ_RUNS') ?? defaultRuns;
}

/**
 * A property as a test: the fixed seed, `defaultRuns` runs (or ROAM_FUZZ_RUNS), and a timeout with room for
 * runs of up to `perRunMs` and for shrinking a failure (which may restart a crashed process per step).
 * fast-check is interrupted 20 s before the timeout, so a long shrink still reports its best counterexample
 * (with the seed and path to replay it) rather than a bare timeout. ROAM_FUZZ_PATH, with the seed fast-check
 * printed, replays that one failure without shrinking again.
 */
export function fuzzIt<Ts>(
  name: string,
  defaultRuns: number,
  perRunMs: number,
  property: fc.IRawProperty<Ts>,
): void {
  const runs = fuzzRuns(defaultRuns);
  const timeout = 150_000 + runs * perRunMs;
  const path = process.env.ROAM_FUZZ_PATH;
  const parameters: fc.Parameters<Ts> = {
    seed: FUZZ_SEED,
    numRuns: runs,
    plugins: [fc.interruptAfterTimeLimit(timeout - 20_000) as fc.Plugin<Ts>],
    ...(path ? { path, endOnFailure: true } : {}),
  };
  it(name, () => fc.assert(property, parameters), timeout);
}

export interface Exchange {
  /** Everything the peer sent. */
  data: Buffer;
  /** The peer closed (or reset) the connection. */
  closed: boolean;
  /** Set when the socket failed, e.g. "ECONNRESET". */
  error?: string;
  /** Neither `done` nor a close came within the bound. */
  hung: boolean;
}

export interface ExchangeOptions {
  /** Cut points: the payload is written in these pieces, a few milliseconds apart (separate TCP segments). */
  splits?: number[];
  /** Half-close after writing (the request is all there is). */
  fin?: boolean;
  /** Reset (RST) the connection right after writing. */
  reset?: boolean;
  /** Stops reading early once this says the answer is complete (a keep-alive connection stays open). */
  done?: (data: Buffer) => boolean;
  boundMs?: number;
}

/** Writes `payload` on a fresh connection to `address` ("host:port") and collects the answer. */
export function exchange(
  address: string,
  payload: Uint8Array,
  options: ExchangeOptions = {},
): Promise<Exchange> {
  const [host, port] = address.split(':');
  const socket = net.connect(Number(port), host);
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let error: string | undefined;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (closed: boolean, hung = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed, hung, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish(false, true), options.boundMs ?? EXCHANGE_BOUND_MS);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (options.done?.(Buffer.concat(chunks))) finish(false);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on('close', () => finish(true));
    socket.once('connect', async () => {
      const cuts = [...new Set(options.splits ?? [])].filter((c) => c > 0 && c < payload.length);
      cuts.sort((a, b) => a - b);
      let from = 0;
      for (const cut of [...cuts, payload.length]) {
        if (socket.destroyed) return;
        socket.write(payload.subarray(from, cut));
        from = cut;
        if (cut < payload.length) await new Promise((r) => setTimeout(r, 3));
      }
      if (options.reset) socket.resetAndDestroy();
      else if (options.fin) socket.end();
    });
  });
}

export interface HttpResponse {
  status: number;
  /** Names lower-cased, in order, duplicates kept. */
  headers: [string, string][];
  body: Buffer;
  /** Interim (1xx) statuses that came before it. */
  interim: number[];
}

export interface ParsedResponses {
  responses: HttpResponse[];
  /** Bytes after the last complete response. */
  rest: Buffer;
  /** Set when `rest` is not just an unfinished response but cannot be one. */
  error?: string;
}

export function header(res: HttpResponse, name: string): string | undefined {
  return res.headers.find(([k]) => k === name)?.[1];
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/;
const FIELD_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

class Incomplete extends Error {}

/** Reads "name: value" lines from `lines` (the head without its status line). */
function fieldLines(lines: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const line of lines) {
    const m = FIELD_LINE.exec(line);
    if (!m) throw new Error(`malformed header line ${JSON.stringify(line)}`);
    out.push([m[1]!.toLowerCase(), m[2]!]);
  }
  return out;
}

/** Decodes a chunked body at `data[at..]`; returns the body and where the message ends. */
function chunkedBody(data: Buffer, at: number): { body: Buffer; end: number } {
  const parts: Buffer[] = [];
  let pos = at;
  for (;;) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) throw new Incomplete();
    const line = data.toString('latin1', pos, eol);
    const m = /^([0-9A-Fa-f]+)(;.*)?$/.exec(line);
    if (!m) throw new Error(`bad chunk size line ${JSON.stringify(line)}`);
    const size = Number.parseInt(m[1]!, 16);
    pos = eol + 2;
    if (size === 0) break;
    if (data.length < pos + size + 2) throw new Incomplete();
    parts.push(data.subarray(pos, pos + size));
    if (data.toString('latin1', pos + size, pos + size + 2) !== '\r\n') throw new Error('chunk without CRLF');
    pos += size + 2;
  }
  // Trailers, then the empty line.
  for (;;) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) throw new Incomplete();
    const line = data.toString('latin1', pos, eol);
    pos = eol + 2;
    if (line === '') return { body: Buffer.concat(parts), end: pos };
    fieldLines([line]);
  }
}

/**
 * Parses the responses in `data`, in order, for requests made with `methods` (a HEAD answer has no body).
 * `closed`: the connection has ended, so a body delimited by the close is complete.
 */
export function parseResponses(data: Buffer, methods: string[], closed: boolean): ParsedResponses {
  const responses: HttpResponse[] = [];
  let pos = 0;
  let interim: number[] = [];
  while (pos < data.length) {
    try {
      const headEnd = data.indexOf('\r\n\r\n', pos);
      if (headEnd < 0) {
        const partial = data.toString('latin1', pos, Math.min(data.length, pos + 7));
        if (!'HTTP/1.'.startsWith(partial)) throw new Error(`not a status line: ${JSON.stringify(partial)}`);
        throw new Incomplete();
      }
      const [statusLine, ...lines] = data.toString('latin1', pos, headEnd).split('\r\n');
      const m = STATUS_LINE.exec(statusLine!);
      if (!m) throw new Error(`malformed status line ${JSON.stringify(statusLine)}`);
      const status = Number(m[1]);
      const headers = fieldLines(lines);
      let at = headEnd + 4;
      if (status >= 100 && status < 200 && status !== 101) {
        interim.push(status);
        pos = at;
        continue;
      }
      const method = methods[responses.length] ?? 'GET';
      const te = headers.find(([k]) => k === 'transfer-encoding')?.[1];
      const lengths = headers.filter(([k]) => k === 'content-length').map(([, v]) => v);
      let body: Buffer;
      if (method === 'HEAD' || status === 204 || status === 304 || status === 101) {
        body = Buffer.alloc(0);
      } else if (te !== undefined) {
        if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new Error(`unexpected transfer-encoding "${te}"`);
        if (lengths.length > 0) throw new Error('both transfer-encoding and content-length');
        const chunked = chunkedBody(data, at);
        body = chunked.body;
        at = chunked.end;
      } else if (lengths.length > 0) {
        if (new Set(lengths).size !== 1 || !/^\d+$/.test(lengths[0]!))
          throw new Error(`bad content-length ${JSON.stringify(lengths)}`);
        const n = Number(lengths[0]);
        if (data.length < at + n) throw new Incomplete();
        body = data.subarray(at, at + n);
        at += n;
      } else {
        if (!closed) throw new Incomplete();
        body = data.subarray(at);
        at = data.length;
      }
      responses.push({ status, headers, body, interim });
      interim = [];
      pos = at;
      // Nothing after a response that closes the connection is a response (a server that could not parse the
      // request may answer a HEAD with a body: it does not know the method, and the close delimits it).
      if (headers.some(([k, v]) => k === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(v)))
        return { responses, rest: Buffer.alloc(0) };
    } catch (err) {
      if (err instanceof Incomplete) return { responses, rest: data.subarray(pos) };
      return { responses, rest: data.subarray(pos), error: (err as Error).message };
    }
  }
  return { responses, rest: data.subarray(pos) };
}

// --- HTTP/2 (RFC 9113) ---

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** One frame; `declaredLength` lies about the payload's length when set. */
export function h2Frame(
  type: number,
  flags: number,
  stream: number,
  payload: Uint8Array,
  declaredLength?: number,
): Buffer {
  const head = Buffer.alloc(9);
  const length = declaredLength ?? payload.length;
  head.writeUIntBE(length & 0xffffff, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([head, payload]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` holds the bits above the prefix. */
function hpackInt(n: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [first | n];
  const out = [first | max];
  let rest = n - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A header block of literal fields without indexing, new names, no Huffman: valid HPACK for any bytes. */
export function hpackLiterals(headers: [string, string][]): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    out.push(0x00, ...hpackInt(n.length, 7), ...n, ...hpackInt(v.length, 7), ...v);
  }
  return Buffer.from(out);
}

export interface H2FrameRead {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** The complete frames in `data` (after the server's part of the connection preface, which is a frame). */
export function readH2Frames(data: Buffer): H2FrameRead[] {
  const out: H2FrameRead[] = [];
  let pos = 0;
  while (data.length - pos >= 9) {
    const length = data.readUIntBE(pos, 3);
    if (data.length - pos < 9 + length) break;
    out.push({
      type: data[pos + 3]!,
      flags: data[pos + 4]!,
      stream: data.readUInt32BE(pos + 5) & 0x7fffffff,
      payload: data.subarray(pos + 9, pos + 9 + length),
    });
    pos += 9 + length;
  }
  return out;
}
