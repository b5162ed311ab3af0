// The SDK's parsing and encoding, checked from outside: a probe endpoint (compiled here, in memory) exposes
// the JSON parser and writer, form decoding and the wire codecs, and a bare JS host drives it with the host's
// own encoder (wasm-host/abi.ts), so the two sides of the ABI are checked against each other.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeResponse, type EndpointResponse, encodeRequest } from '../../wasm-host/abi.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

const PROBE = `
import { formValue, JsonWriter, parseDecimal, parseJson, Request, Response, serve } from "./sdk/assembly/index";
export * from "./sdk/assembly/exports";

serve((req: Request): Response => {
  if (req.path == "/json") {
    const v = parseJson(req.text());
    return v == null ? Response.status(400) : Response.json(200, new JsonWriter().value(v).toString());
  }
  if (req.path == "/form") {
    const v = formValue(req.rawQuery, req.header("x-name")!);
    return v == null ? Response.status(404) : Response.text(200, v);
  }
  if (req.path == "/decimal") return Response.text(200, parseDecimal(req.text(), -999).toString());
  if (req.path.startsWith("/segments")) return Response.text(200, req.segments().join("|"));
  const res = Response.bytes(201, req.body, "x/y").setHeader("Content-Type", "a/b").addHeader("x-m", req.method);
  for (let i = 0; i < req.headers.length; i++) res.addHeader("x-" + req.headers[i].name, req.headers[i].value);
  return res;
});
`;

interface Probe {
  /** Current size of the instance's memory, in 64 KiB pages. */
  pages(): number;
  raw(bytes: Uint8Array): Uint8Array;
  call(
    method: string,
    path: string,
    body?: string | Uint8Array,
    headers?: [string, string][],
  ): EndpointResponse;
}

async function compileProbe(): Promise<Uint8Array> {
  const { default: asc } = await import('assemblyscript/asc');
  let binary: Uint8Array | undefined;
  let diagnostics = '';
  const { error } = await asc.main(
    [
      'probe.ts',
      '--baseDir',
      root,
      '--outFile',
      'probe.wasm',
      '-O3',
      '--runtime',
      'minimal',
      '--importMemory',
    ],
    {
      stdout: asc.createMemoryStream(),
      stderr: asc.createMemoryStream((c) => {
        diagnostics += String(c);
      }),
      readFile: (name, baseDir) => {
        if (name === 'probe.ts') return PROBE;
        try {
          return readFileSync(join(baseDir, name), 'utf8');
        } catch {
          return null;
        }
      },
      writeFile: (_name, contents) => {
        binary = typeof contents === 'string' ? Buffer.from(contents) : contents;
      },
    },
  );
  if (error || !binary) throw new Error(`probe did not compile: ${error?.message}\n${diagnostics}`);
  return binary;
}

function instantiate(binary: Uint8Array, maxPages: number): Probe {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: maxPages });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), {
    env: {
      memory,
      abort: () => {
        throw new Error('abort');
      },
    },
  });
  const ex = instance.exports as {
    roam_abi_version(): number;
    roam_alloc(size: number): number;
    roam_handle(ptr: number, len: number): number;
  };
  expect(ex.roam_abi_version()).toBe(1);
  const raw = (bytes: Uint8Array): Uint8Array => {
    const ptr = ex.roam_alloc(bytes.length);
    if (ptr === 0) throw new Error('roam_alloc returned 0');
    new Uint8Array(memory.buffer).set(bytes, ptr);
    const d = ex.roam_handle(ptr, bytes.length);
    const view = new DataView(memory.buffer);
    const at = view.getUint32(d, true);
    return new Uint8Array(memory.buffer).slice(at, at + view.getUint32(d + 4, true));
  };
  return {
    pages: () => memory.buffer.byteLength / 65536,
    raw,
    call: (method, path, body = '', headers = []) => {
      const q = path.indexOf('?');
      return decodeResponse(
        raw(
          encodeRequest({
            method,
            path: q < 0 ? path : path.slice(0, q),
            query: q < 0 ? '' : path.slice(q + 1),
            headers,
            body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
          }),
        ),
      );
    },
  };
}

const text = (r: EndpointResponse) => new TextDecoder().decode(r.body);

/** Deep equality, numbers within a few units in the last place (the SDK's slow number path is not exact). */
function close(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number')
    return a === b || Math.abs(a - b) <= 1e-14 * Math.abs(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => close(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const rb = b as Record<string, unknown>;
    const ra = a as Record<string, unknown>;
    return ka.length === Object.keys(b).length && ka.every((k) => k in rb && close(ra[k], rb[k]));
  }
  return a === b;
}

describe('AssemblyScript SDK', () => {
  let binary: Uint8Array;
  let probe: Probe;

  beforeAll(async () => {
    binary = await compileProbe();
    probe = instantiate(binary, 64);
  }, 60_000);

  it('round-trips method, path, query, headers and body through both codecs', () => {
    const body = new Uint8Array([0, 1, 2, 255, 254]);
    const res = probe.call('PUT', '/x?q=1', body, [
      ['a', 'värde'],
      ['a', '2'],
      ['empty', ''],
    ]);
    expect(res.status).toBe(201);
    expect(res.headers).toEqual([
      ['content-type', 'a/b'],
      ['x-m', 'PUT'],
      ['x-a', 'värde'],
      ['x-a', '2'],
      ['x-empty', ''],
    ]);
    expect(Array.from(res.body)).toEqual(Array.from(body));
  });

  it('answers 400, never traps, on malformed request encodings', () => {
    const good = encodeRequest({
      method: 'GET',
      path: '/x',
      query: 'q',
      headers: [['a', 'b']],
      body: new Uint8Array(3),
    });
    fc.assert(
      fc.property(
        fc.nat(good.length - 1),
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.nat(255))),
        (cut, flips) => {
          const bad = good.slice();
          for (const [i, v] of flips) bad[i] = v;
          const status = decodeResponse(probe.raw(bad.subarray(0, cut))).status;
          expect(status).toBe(400);
          expect([201, 400]).toContain(decodeResponse(probe.raw(bad)).status);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('returns 0 from roam_alloc when memory is exhausted, and keeps serving', () => {
    const small = instantiate(binary, 4);
    expect(() => small.raw(new Uint8Array(4 * 65536))).toThrow('roam_alloc returned 0');
    expect(small.call('GET', '/segments/a').status).toBe(200);
  });

  it('keeps an instance at a steady size across many requests', () => {
    const p = instantiate(binary, 64);
    const doc = JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ sku: `s${i}`, qty: i })) });
    for (let i = 0; i < 100; i++) p.call('POST', '/json', doc);
    const before = p.pages();
    for (let i = 0; i < 2000; i++) p.call('POST', '/json', doc);
    expect(p.pages()).toBe(before);
  });

  it.each([
    '0',
    '-0.5e-3',
    '1E+2',
    '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00"',
    '"é😀\\u0001"',
    '[]',
    '{}',
    ' [1, [2, [3, {"a": [true, false, null]}]]] ',
    '{"a":1,"a":2}',
    '1e999',
    '9007199254740993',
    '9.045445207039161e+38',
    '123456789012345678901234567890',
    '0.1e-5',
    '-1.5E+300',
  ])('parses and rewrites %s as JSON does', (doc) => {
    const res = probe.call('POST', '/json', doc);
    expect(res.status).toBe(200);
    expect(close(JSON.parse(text(res)), JSON.parse(JSON.stringify(JSON.parse(doc))))).toBe(true);
  });

  it.each([
    '',
    ' ',
    '{',
    '[1,]',
    '{"a":1,}',
    '01',
    '1.',
    '.5',
    '-',
    '1e',
    '+1',
    'NaN',
    'Infinity',
    '"\\x"',
    '"\\u12G4"',
    '"a\nb"',
    'tru',
    'nul',
    '[1 2]',
    '{"a" 1}',
    '{1:2}',
    '"abc',
    '1 2',
    `${'['.repeat(65)}${']'.repeat(65)}`,
  ])('refuses %j with a 400', (doc) => {
    expect(probe.call('POST', '/json', doc).status).toBe(400);
  });

  it('agrees with JSON.parse on arbitrary documents and their corruptions', () => {
    fc.assert(
      fc.property(fc.json({ depthSize: 'small' }), fc.nat(), fc.string({ maxLength: 2 }), (doc, at, junk) => {
        for (const d of [
          doc,
          doc.slice(0, at % (doc.length + 1)) + junk + doc.slice(at % (doc.length + 1)),
        ]) {
          let expected: unknown;
          try {
            expected = JSON.parse(JSON.stringify(JSON.parse(d)));
          } catch {
            expected = undefined;
          }
          const res = probe.call('POST', '/json', d);
          if (expected === undefined) expect(res.status).toBe(400);
          else expect(close(JSON.parse(text(res)), expected), `${d} -> ${text(res)}`).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('decodes form values, path segments and decimals', () => {
    const form = (query: string, name: string) => {
      const r = probe.call('GET', `/form?${query}`, '', [['x-name', name]]);
      return r.status === 404 ? null : text(r);
    };
    expect(form('a=1&b=x%20y+z%C3%A9&c', 'b')).toBe('x y zé');
    expect(form('a=1&b=2&a=3', 'a')).toBe('1');
    expect(form('a=1&c', 'c')).toBe('');
    expect(form('a%20b=1', 'a b')).toBe('1');
    expect(form('a=%zz%4', 'a')).toBe('%zz%4');
    expect(form('&&a=1&', 'a')).toBe('1');
    expect(form('', 'a')).toBeNull();
    expect(form('ab=1', 'a')).toBeNull();
    expect(text(probe.call('GET', '/segments//a%2Fb/c/'))).toBe('segments|a/b|c');
    const decimal = (s: string) => text(probe.call('POST', '/decimal', s));
    expect(['42', '-7', '007', '', '-', '1.5', '2x', ' 1', '1234567890123456789'].map(decimal)).toEqual([
      '42',
      '-7',
      '7',
      '-999',
      '-999',
      '-999',
      '-999',
      '-999',
      '-999',
    ]);
  });
});
