// Fuzzes the endpoint ABI's wire format (wasm-host/abi.ts, protocol/abi.md): exact round trips, hostile bytes to
// the decoders, and arbitrary requests through a real `roam host` running the echo fixture (issue 14).
// A fixed seed and a few runs by default; longer on demand, e.g.
//   ROAM_FUZZ_RUNS=5000 ROAM_FUZZ_SEED=123 npx vitest run wasm-host/test/abi-fuzz.test.ts
// and to replay a failure fast-check printed: ROAM_FUZZ_SEED=<seed> ROAM_FUZZ_PATH=<path> (no shrinking).
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { RoamError } from '../../core/errors.ts';
import { fuzzIt } from '../../test/support/fuzz.ts';
import { fixtureModule } from '../../test/support/modules.ts';
import { type RoamProcess, startHost, stopAll } from '../../test/support/processes.ts';
import {
  decodeRequest,
  decodeResponse,
  type EndpointRequest,
  type EndpointResponse,
  encodeKeyList,
  encodeRequest,
  encodeResponse,
  requestSize,
  responseSize,
  writeRequest,
} from '../abi.ts';

// Runs per property by default (ROAM_FUZZ_RUNS overrides them all): a few seconds for the file.
const PURE_RUNS = 1000;
const HOST_RUNS = 60;

/** Any well-formed string (whole code points, astral ones included). */
const text = (maxLength = 40) => fc.string({ unit: 'binary', maxLength });
/** Strings that may hold lone surrogates, which UTF-8 cannot carry (they travel as U+FFFD). */
const rawText = fc.string({
  unit: fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
  ),
  maxLength: 20,
});
const headers = (value: fc.Arbitrary<string>) => fc.array(fc.tuple(value, value), { maxLength: 6 });
const body = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 70_000 }) },
);

const endpointRequest: fc.Arbitrary<EndpointRequest> = fc.record({
  method: text(10),
  path: text(),
  query: text(),
  headers: headers(text(20)),
  body,
});

const endpointResponse: fc.Arbitrary<EndpointResponse> = fc.record({
  status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer({ min: 0, max: 0xffffffff })),
  headers: headers(text(20)),
  body,
});

/** What a string becomes after a trip through UTF-8. */
function wellFormed(s: string): string {
  return s.toWellFormed();
}

/** Decoding must either succeed or fail with a RoamError: anything else escapes the host's error handling. */
function decodesOrRefuses<T>(decode: (b: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch (err) {
    if (err instanceof RoamError) return undefined;
    throw new Error(
      `decoding ${bytes.length} bytes threw ${(err as Error)?.name}: ${(err as Error)?.message}`,
      {
        cause: err,
      },
    );
  }
}

/** Bytes a decoded value holds: none can come from anywhere but the input, so they never exceed it. */
function heldBytes(v: EndpointRequest | EndpointResponse): number {
  const strings = 'method' in v ? [v.method, v.path, v.query] : [];
  let n = v.body.length;
  for (const s of strings) n += Buffer.byteLength(s);
  for (const [k, val] of v.headers) n += Buffer.byteLength(k) + Buffer.byteLength(val);
  return n;
}

const U32_EDGES = [0, 1, 7, 8, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** A valid encoding with damage: bytes flipped, a u32 overwritten (length prefixes), cut short or extended. */
const damage = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    kind: fc.constant('u32' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(...U32_EDGES), fc.integer({ min: 0, max: 0xffffffff })),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);
type Damage = typeof damage extends fc.Arbitrary<infer T> ? T : never;

function damaged(bytes: Uint8Array, changes: Damage[]): Uint8Array {
  let out = Uint8Array.from(bytes);
  for (const d of changes) {
    if (d.kind === 'extend') {
      out = Uint8Array.from([...out, ...d.extra]);
    } else if (out.length === 0) {
    } else if (d.kind === 'flip') {
      out[d.at % out.length]! ^= d.xor;
    } else if (d.kind === 'truncate') {
      out = out.slice(0, d.at % out.length);
    } else if (out.length >= 4) {
      new DataView(out.buffer).setUint32(d.at % (out.length - 3), d.value, true);
    }
  }
  return out;
}

/** The decoders' input: random bytes, or a valid encoding of either kind, damaged. */
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .tuple(
      fc.oneof(endpointRequest.map(encodeRequest), endpointResponse.map(encodeResponse)),
      fc.array(damage, { minLength: 1, maxLength: 4 }),
    )
    .map(([bytes, changes]) => damaged(bytes, changes)),
);

/** `bytes` as a view at `offset` into a larger buffer full of other data (as in an instance's memory). */
function viewAt(bytes: Uint8Array, offset: number, fill: number): Uint8Array {
  const big = new Uint8Array(offset + bytes.length + 13).fill(fill);
  big.set(bytes, offset);
  return big.subarray(offset, offset + bytes.length);
}

describe('ABI encoding', () => {
  fuzzIt(
    'round-trips any request exactly: decode(encode(r)) is r, and encoding is exactly requestSize bytes',
    PURE_RUNS,
    20,
    fc.property(endpointRequest, fc.nat({ max: 64 }), (r, offset) => {
      const bytes = encodeRequest(r);
      expect(bytes.length).toBe(requestSize(r));
      expect(decodeRequest(bytes)).toEqual(r);
      expect(encodeRequest(decodeRequest(bytes))).toEqual(bytes);
      // writeRequest fills exactly its bytes at the offset and nothing around them.
      const target = new Uint8Array(offset + bytes.length + 8).fill(0xa5);
      expect(writeRequest(r, target, offset)).toBe(bytes.length);
      expect(target.subarray(offset, offset + bytes.length)).toEqual(bytes);
      expect(target.subarray(0, offset).every((b) => b === 0xa5)).toBe(true);
      expect(target.subarray(offset + bytes.length).every((b) => b === 0xa5)).toBe(true);
    }),
  );

  fuzzIt(
    'round-trips any response exactly, any u32 status included',
    PURE_RUNS,
    20,
    fc.property(endpointResponse, (r) => {
      const bytes = encodeResponse(r);
      expect(bytes.length).toBe(responseSize(r));
      expect(decodeResponse(bytes)).toEqual(r);
      expect(encodeResponse(decodeResponse(bytes))).toEqual(bytes);
    }),
  );

  fuzzIt(
    'carries strings UTF-8 cannot hold (lone surrogates) as U+FFFD, with sizes that match the bytes written',
    PURE_RUNS,
    20,
    fc.property(rawText, rawText, rawText, headers(rawText), (method, path, query, h) => {
      const r: EndpointRequest = { method, path, query, headers: h, body: new Uint8Array() };
      const bytes = encodeRequest(r);
      expect(bytes.length).toBe(requestSize(r));
      expect(decodeRequest(bytes)).toEqual({
        method: wellFormed(method),
        path: wellFormed(path),
        query: wellFormed(query),
        headers: h.map(([k, v]) => [wellFormed(k), wellFormed(v)]),
        body: new Uint8Array(),
      });
      const res: EndpointResponse = { status: 200, headers: h, body: new Uint8Array() };
      expect(encodeResponse(res).length).toBe(responseSize(res));
    }),
  );

  fuzzIt(
    'encodes key lists as count, then length and bytes per key',
    PURE_RUNS,
    20,
    fc.property(fc.array(text(30), { maxLength: 20 }), (keys) => {
      const bytes = encodeKeyList(keys);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      expect(view.getUint32(0, true)).toBe(keys.length);
      let pos = 4;
      for (const k of keys) {
        const len = view.getUint32(pos, true);
        expect(Buffer.from(bytes.subarray(pos + 4, pos + 4 + len)).toString('utf8')).toBe(k);
        pos += 4 + len;
      }
      expect(pos).toBe(bytes.length);
    }),
  );
});

describe('ABI decoding of hostile bytes', () => {
  for (const [what, decode, encode] of [
    ['requests', decodeRequest, encodeRequest],
    ['responses', decodeResponse, encodeResponse],
  ] as const) {
    fuzzIt(
      `decodes ${what} or throws a RoamError; what it decodes holds no more than it was given and re-encodes stably`,
      PURE_RUNS,
      20,
      fc.property(hostileBytes, fc.nat({ max: 32 }), fc.nat({ max: 255 }), (bytes, offset, fill) => {
        const decoded = decodesOrRefuses<EndpointRequest | EndpointResponse>(decode, bytes);
        // The same bytes seen through a view into a larger buffer decode the same way.
        const viewed = decodesOrRefuses<EndpointRequest | EndpointResponse>(
          decode,
          viewAt(bytes, offset, fill),
        );
        expect(viewed).toEqual(decoded);
        if (decoded === undefined) return;
        expect(heldBytes(decoded)).toBeLessThanOrEqual(bytes.length);
        // Invalid UTF-8 became U+FFFD once; from then on the value is stable.
        const again = (encode as (v: EndpointRequest | EndpointResponse) => Uint8Array)(decoded);
        expect(decode(again)).toEqual(decoded);
      }),
    );

    fuzzIt(
      `refuses every ${what} length prefix or count that runs past the end (up to 2^32-1), without allocating it`,
      PURE_RUNS,
      20,
      fc.property(
        what === 'requests' ? endpointRequest.map(encodeRequest) : endpointResponse.map(encodeResponse),
        fc.nat(),
        fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff),
        (bytes, at, huge) => {
          // Every field boundary where a u32 length or count sits, found by walking the valid encoding.
          const prefixes = prefixOffsets(decode === decodeRequest ? 'request' : 'response', bytes);
          const where = prefixes[at % prefixes.length]!;
          const bad = Uint8Array.from(bytes);
          new DataView(bad.buffer).setUint32(where, huge, true);
          // An allocation of the claimed size would still be counted here: nothing collected it yet.
          const before = process.memoryUsage().arrayBuffers;
          expect(decodesOrRefuses<EndpointRequest | EndpointResponse>(decode, bad)).toBeUndefined();
          expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
        },
      ),
    );
  }

  fuzzIt(
    'copies bodies out: changing the source after decoding does not change what was decoded',
    PURE_RUNS,
    20,
    fc.property(endpointRequest, endpointResponse, (req, res) => {
      for (const [bytes, decode] of [
        [encodeRequest(req), decodeRequest],
        [encodeResponse(res), decodeResponse],
      ] as const) {
        const decoded = (decode as (b: Uint8Array) => { body: Uint8Array })(bytes);
        const before = Uint8Array.from(decoded.body);
        bytes.fill(0xee);
        expect(decoded.body).toEqual(before);
      }
    }),
  );
});

/** Offsets of every u32 length prefix and count in a valid encoding (protocol/abi.md). */
function prefixOffsets(kind: 'request' | 'response', bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  let pos = 0;
  const field = () => {
    out.push(pos);
    pos += 4 + view.getUint32(pos, true);
  };
  if (kind === 'request') {
    field();
    field();
    field();
  } else {
    pos += 4; // the status is any u32, not a length
  }
  out.push(pos);
  const count = view.getUint32(pos, true);
  pos += 4;
  for (let i = 0; i < 2 * count; i++) field();
  field();
  return out;
}

// --- a real host: arbitrary requests reach the echo endpoint and come back exactly ---

let host: RoamProcess;
const SMALL_LIMIT = 16 * 1024;

async function deploy(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  const up = await request(`${host.url}/modules`, { method: 'POST', body: fixtureModule('echo') });
  const { digest } = (await up.body.json()) as { digest: string };
  const act = await request(`${host.url}/endpoints/${name}`, {
    method: 'PUT',
    body: JSON.stringify({ digest, ...extra }),
  });
  expect(act.statusCode, await act.body.text()).toBe(200);
}

beforeAll(async () => {
  host = await startHost('edge');
  await deploy('echo');
  await deploy('echo-small', { limits: { maxRequestBytes: SMALL_LIMIT } });
}, 60_000);

afterAll(() => stopAll());

const TCHAR = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";
const PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
const chars = (set: string) => fc.constantFrom(...set.split(''));
const pct = fc.integer({ min: 0, max: 255 }).map((n) => `%${n.toString(16).padStart(2, '0').toUpperCase()}`);
const urlText = fc.string({
  unit: fc.oneof({ weight: 6, arbitrary: chars(PCHAR) }, { weight: 1, arbitrary: pct }),
  maxLength: 30,
});
/** Field values as HTTP carries them: visible ASCII, inner spaces and tabs, and obs-text (bytes 0x80-0xff). */
const fieldValue = fc
  .string({
    unit: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.constantFrom(' ', '\t') },
      { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)) },
    ),
    maxLength: 40,
  })
  .map((v) => v.trim());

const invocation = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  path: fc.array(urlText, { maxLength: 4 }).map((segs) => segs.map((s) => `/${s}`).join('')),
  query: fc.option(fc.string({ unit: fc.oneof(chars(`${PCHAR}/?`), pct), maxLength: 30 }), {
    nil: undefined,
  }),
  headers: fc.uniqueArray(
    fc.tuple(
      fc.string({ unit: chars(TCHAR), minLength: 1, maxLength: 12 }).map((n) => `x-h-${n}`),
      fieldValue,
    ),
    {
      maxLength: 6,
      selector: ([name]) => name,
    },
  ),
  body: fc.oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: 2000 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 10_000, maxLength: 40_000 }) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 100_000, max: 400_000 }).map((n) => new Uint8Array(n).fill(0xab)),
    },
  ),
});

/** Sends `inv` to endpoint `name` and returns the status, headers (latin1 values, as sent) and body. */
async function invoke(name: string, inv: typeof invocation extends fc.Arbitrary<infer T> ? T : never) {
  const target = `/invoke/${name}${inv.path}${inv.query === undefined ? '' : `?${inv.query}`}`;
  const res = await request(`${host.url}${target}`, {
    method: inv.method as 'GET',
    headers: Object.fromEntries(inv.headers),
    body: inv.body.length > 0 ? inv.body : null,
  });
  const got = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body: got };
}

async function hostAlive(): Promise<void> {
  const res = await request(`${host.url}/healthz`);
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`the host's /healthz answered ${res.statusCode}`);
  if (host.child.exitCode !== null || host.child.signalCode !== null)
    throw new Error(`the host exited (${host.child.exitCode ?? host.child.signalCode}):\n${host.stderr()}`);
}

describe('ABI through a real host', () => {
  fuzzIt(
    'delivers any body, path, query and header value to the endpoint and back exactly, and stays up',
    HOST_RUNS,
    500,
    fc.asyncProperty(invocation, async (inv) => {
      const res = await invoke('echo', inv);
      expect(res.status, res.body.toString('latin1').slice(0, 300)).toBe(200);
      expect(res.body.equals(Buffer.from(inv.body))).toBe(true);
      expect(res.headers['x-method']).toBe(inv.method);
      expect(res.headers['x-path']).toBe(inv.path === '' ? '/' : inv.path);
      expect(res.headers['x-query']).toBe(inv.query ?? '');
      for (const [name, value] of inv.headers) expect(res.headers[`x-echo-${name}`], name).toBe(value);
      await hostAlive();
    }),
  );

  fuzzIt(
    `refuses requests over an endpoint's size limit with 413 and serves those under it`,
    HOST_RUNS,
    500,
    fc.asyncProperty(invocation, fc.integer({ min: 0, max: 2 * SMALL_LIMIT }), async (inv, size) => {
      const sized = { ...inv, body: new Uint8Array(size).fill(0x5a) };
      const res = await invoke('echo-small', sized);
      // The encoded request is the body plus method, path, query and headers: a few hundred bytes here.
      if (size > SMALL_LIMIT) expect(res.status).toBe(413);
      else if (size < SMALL_LIMIT - 2048) expect(res.status).toBe(200);
      else expect([200, 413]).toContain(res.status);
      await hostAlive();
    }),
  );
});
