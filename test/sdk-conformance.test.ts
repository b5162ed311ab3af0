// One answer whatever the language: the AssemblyScript, Rust and C builds of hello, pricing and cart get the
// same request corpus (normal requests, edge cases, bad input, a failing store) on real hosts (inline and
// worker execution, and a `roam host` process of the cluster tier) and must answer byte for byte alike:
// status, the headers an endpoint sets (content-type, allow) and body.
// The one intended difference: bytes that are not UTF-8 (in a query, a path or a body) and \u escapes of lone
// surrogates. The Rust and C SDKs replace them with U+FFFD, as the host's TextDecoder does; the AssemblyScript
// SDK decodes them laxly (an overlong "%C1%81" becomes "A") and keeps lone surrogates. Those requests are marked
// `lax`: Rust and C must agree on them, AssemblyScript may differ.
// A language whose build is absent (no toolchain) is skipped with a line saying so; under CI=true it fails.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EndpointResponse, type ExecMode, MemoryStore, WasmHost } from '../wasm-host/index.ts';
import { request } from './support/modules.ts';
import { type RoamProcess, startHost, stopAll } from './support/processes.ts';

const ENDPOINTS = ['hello', 'pricing', 'cart'] as const;
type Endpoint = (typeof ENDPOINTS)[number];

const LANGUAGES = [
  { lang: 'as', suffix: '', install: '' },
  { lang: 'rust', suffix: '.rust', install: 'apt-get install -y rustc libstd-rust-dev-wasm32' },
  { lang: 'c', suffix: '.c', install: 'apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32' },
];

function modulePath(name: Endpoint, suffix: string): URL {
  return new URL(`../build/endpoints/${name}${suffix}.wasm`, import.meta.url);
}

const built = LANGUAGES.filter((l) => ENDPOINTS.every((e) => existsSync(modulePath(e, l.suffix))));
const absent = LANGUAGES.filter((l) => !built.includes(l));
for (const l of absent) {
  console.log(
    `sdk-conformance: skipping ${l.lang}: build/endpoints/*${l.suffix}.wasm absent (npm run build skipped it: ${l.install || 'npm run build'})`,
  );
}

interface Case {
  endpoint: Endpoint;
  method: string;
  url: string;
  body?: string | Uint8Array;
  headers?: [string, string][];
  /** Not UTF-8, or a lone surrogate: the stated difference (see the top of this file). */
  lax?: boolean;
}

const emoji = '\u{1F600}';
const items = (list: unknown[]) => JSON.stringify({ items: list });

/** Seeded into "catalog" before pricing's cases: listed, unreadable, negative, zero and huge prices. */
const CATALOG: Record<string, string> = {
  'price:A': '250',
  'price:B': 'abc',
  'price:C': '-5',
  'price:D': '0',
  'price:E': '999999999999999999',
};

const HELLO: Case[] = [
  ['GET', '/hello'],
  ['GET', '/hello?name=Roam'],
  ['GET', '/hello?name=R%C3%B6am+%F0%9F%98%80'],
  ['GET', '/hello?name='],
  ['GET', '/hello?name'],
  ['GET', '/hello?x=1&&name=a%2Gb%&name=second'],
  ['GET', '/hello?na%6De=decoded+key'],
  ['GET', '/hello?name=%22q%22%5C%0A%0D%09%01%7F'],
  ['HEAD', '/hello?name=h'],
  ['POST', '/hello'],
  ['get', '/hello'],
].map(([method, url]) => ({ endpoint: 'hello', method: method!, url: url! }));
HELLO.push(
  { endpoint: 'hello', method: 'GET', url: '/hello?name=%FF', lax: true },
  { endpoint: 'hello', method: 'GET', url: '/hello?name=%C1%81', lax: true },
);

const pricing = (body: string | Uint8Array, lax = false): Case => ({
  endpoint: 'pricing',
  method: 'POST',
  url: '/pricing',
  body,
  lax,
});
const PRICING: Case[] = [
  pricing(
    items([
      { sku: 'A', qty: 2 },
      { sku: 'B', qty: 1 },
      { sku: 'C', qty: 3 },
      { sku: 'D', qty: 4 },
      { sku: 'Z', qty: 5 },
    ]),
  ),
  pricing(
    '{"items":[{"sku":"A","qty":1.0},{"sku":"A","qty":1e3},{"sku":"A","qty":1E2},{"sku":"A","qty":0.5e1}]}',
  ),
  pricing('{"items":[{"sku":"A","qty":2.5}]}'),
  pricing(items([{ sku: 'A', qty: 0 }])),
  pricing(items([{ sku: 'A', qty: -1 }])),
  pricing(items([{ sku: 'A', qty: 1000001 }])),
  pricing(items([{ sku: 'A', qty: '2' }])),
  pricing(items([{ sku: 'A' }])),
  pricing(items([{ sku: '', qty: 1 }])),
  pricing(items([{ sku: 'x'.repeat(128), qty: 1 }])),
  pricing(items([{ sku: 'x'.repeat(129), qty: 1 }])),
  pricing(items([{ sku: emoji.repeat(64), qty: 1 }])),
  pricing(items([{ sku: emoji.repeat(65), qty: 1 }])),
  pricing(items([{ sku: 7, qty: 1 }])),
  pricing(items(['A'])),
  pricing('{"items":[{"sku":"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/\\b\\f\\t\\r","qty":1}]}'),
  pricing(
    items([
      { sku: 'E', qty: 1000000 },
      { sku: 'E', qty: 1000000 },
    ]),
  ),
  pricing('{"items":[{"sku":"A","qty":1}],"items":[{"sku":"B","qty":1}]}'),
  pricing(' \n{ "items" : [ ] } \t'),
  pricing(items(Array.from({ length: 1000 }, (_, i) => ({ sku: `s${i}`, qty: 1 })))),
  pricing(items(Array.from({ length: 1001 }, () => ({ sku: 'A', qty: 1 })))),
  pricing(''),
  pricing('not json'),
  pricing('{"items":[]} x'),
  pricing('{"items":[{"sku":"A","qty":01}]}'),
  pricing('{"items":[{"sku":"A","qty":1.}]}'),
  pricing('{"items":[{"sku":"A\u0001","qty":1}]}'),
  pricing('{"items":[{"sku":"\\x","qty":1}]}'),
  pricing('{"items":[{"sku":"\\u12","qty":1}]}'),
  pricing(`${'['.repeat(64)}${']'.repeat(64)}`),
  pricing(`{"items":${'['.repeat(65)}${']'.repeat(65)}}`),
  pricing('[]'),
  pricing('{"items":{}}'),
  pricing('{"items":[{"sku":"A","qty":1e400}]}'),
  pricing('{"items":[{"sku":"A","qty":9007199254740993}]}'),
  pricing('{"items":[{"sku":"A","qty":-0}]}'),
  { endpoint: 'pricing', method: 'GET', url: '/pricing' },
  pricing('{"items":[{"sku":"\\ud800","qty":1}]}', true),
  pricing(
    new Uint8Array([...Buffer.from('{"items":[{"sku":"a'), 0xc1, 0x81, 0xff, ...Buffer.from('","qty":1}]}')]),
    true,
  ),
];

const cart = (method: string, url: string, body?: string, headers?: [string, string][]): Case => ({
  endpoint: 'cart',
  method,
  url,
  body,
  headers,
});
const form: [string, string][] = [['content-type', 'application/x-www-form-urlencoded']];
const json: [string, string][] = [['content-type', 'application/json; charset=utf-8']];
const CART: Case[] = [
  cart('GET', '/cart/alice'),
  cart('POST', '/cart/alice/items', 'sku=A&qty=2', form),
  cart('POST', '/cart/alice/items', 'sku=B'),
  cart('POST', '/cart/alice/items', '{"sku":"C","qty":3}'),
  cart('POST', '/cart/alice/items', '{"sku":"A"}', json),
  cart('POST', '/cart/alice/items', 'qty=1&sku=D.x_-9&sku=ignored'),
  cart('POST', '/cart/alice/items', '[1]', json),
  cart('POST', '/cart/alice/items', '{bad'),
  cart('POST', '/cart/alice/items', 'sku=bad%20sku'),
  cart('POST', '/cart/alice/items', 'sku='),
  cart('POST', '/cart/alice/items', ''),
  cart('POST', '/cart/alice/items', `sku=${'k'.repeat(65)}`),
  cart('POST', '/cart/alice/items', 'sku=A&qty=0'),
  cart('POST', '/cart/alice/items', 'sku=A&qty=1001'),
  cart('POST', '/cart/alice/items', 'sku=A&qty=abc'),
  cart('POST', '/cart/alice/items', 'sku=A&qty=1e3'),
  cart('POST', '/cart/alice/items', 'sku=A&qty'),
  cart('POST', '/cart/alice/items', '{"sku":"A","qty":1.5}'),
  cart('POST', '/cart/alice/items', '{"sku":"A","qty":"2"}'),
  cart('POST', '/cart/alice/items', '{"sku":"A","qty":1000}'),
  cart('GET', '/cart/alice'),
  cart('HEAD', '/cart/alice'),
  cart('GET', '//cart//alice//'),
  cart('GET', '/cart/al%69ce'),
  cart('DELETE', '/cart/alice/items/A'),
  cart('DELETE', '/cart/alice/items/A'),
  cart('DELETE', '/cart/alice/items/bad%20sku'),
  cart('DELETE', '/cart/bob/items/A'),
  cart('GET', '/cart'),
  cart('GET', '/cart/'),
  cart('GET', '/carts/alice'),
  cart('GET', '/cart/bad%20user'),
  cart('GET', '/cart/a+b'),
  cart('GET', `/cart/${'u'.repeat(65)}`),
  cart('GET', '/cart/alice/other'),
  cart('GET', '/cart/alice/items/A/x'),
  cart('PUT', '/cart/alice'),
  cart('GET', '/cart/alice/items'),
  cart('GET', '/cart/alice/items/A'),
  cart('DELETE', '/cart/alice/items/B'),
  cart('DELETE', '/cart/alice/items/C'),
  cart('DELETE', '/cart/alice/items/D.x_-9'),
  cart('GET', '/cart/alice'),
  { ...cart('GET', '/cart/%C1%81'), lax: true },
];

/** With no stores at all: every store access fails, and the endpoints must say so the same way. */
const STORE_DOWN: Case[] = [
  cart('GET', '/cart/alice'),
  cart('POST', '/cart/alice/items', 'sku=A'),
  cart('DELETE', '/cart/alice/items/A'),
  cart('GET', '/cart/bad%20user'),
  pricing(items([{ sku: 'A', qty: 1 }])),
  pricing(items([])),
];

const CORPUS = [...HELLO, ...PRICING, ...CART];

/** What the comparison looks at: the status, the headers an endpoint sets, and the body as bytes. */
function answer(res: { status: number; headers: [string, string][]; body: Uint8Array }): string {
  const kept = res.headers.filter(([k]) => k === 'content-type' || k === 'allow');
  return JSON.stringify([res.status, kept, Buffer.from(res.body).toString('base64')]);
}

function compare(cases: Case[], answers: Map<string, string[]>): void {
  const reference = answers.get('as')!;
  for (const [lang, got] of answers) {
    cases.forEach((c, i) => {
      const label = `${lang} ${c.method} ${c.url} ${typeof c.body === 'string' ? c.body.slice(0, 80) : ''}`;
      if (c.lax) {
        if (lang !== 'as' && answers.has('c') && answers.has('rust'))
          expect(got[i], label).toBe(answers.get('rust')![i]);
      } else expect(got[i], label).toBe(reference[i]);
    });
  }
}

function seededStores(): MemoryStore[] {
  const catalog = new MemoryStore('catalog', 'here');
  for (const [k, v] of Object.entries(CATALOG)) catalog.put(k, Buffer.from(v));
  return [new MemoryStore('carts', 'here'), catalog];
}

async function runOn(host: WasmHost, cases: Case[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of cases) {
    const res: EndpointResponse = await host.invoke(c.endpoint, request(c.method, c.url, c.body, c.headers));
    out.push(answer(res));
  }
  return out;
}

it.runIf(process.env.CI === 'true')(
  'has every language built (CI=true requires the Rust and C toolchains)',
  () => {
    expect(absent.map((l) => l.lang)).toEqual([]);
  },
);

describe.skipIf(built.length < 2)('SDK conformance', () => {
  describe.each<ExecMode>(['inline', 'worker'])('%s execution', (exec) => {
    const hosts: WasmHost[] = [];
    afterAll(() => {
      for (const h of hosts) h.close();
    });

    async function hostFor(suffix: string, stores: MemoryStore[]): Promise<WasmHost> {
      const host = new WasmHost({
        id: `conformance-${exec}-${hosts.length}`,
        tier: 'cluster',
        exec,
        workers: { minThreads: 1, maxThreads: 1 },
        stores,
      });
      hosts.push(host);
      for (const e of ENDPOINTS)
        await host.activate(e, host.modules.put(readFileSync(modulePath(e, suffix))));
      return host;
    }

    it('answers the corpus alike in every language', async () => {
      const answers = new Map<string, string[]>();
      for (const l of built)
        answers.set(l.lang, await runOn(await hostFor(l.suffix, seededStores()), CORPUS));
      compare(CORPUS, answers);
    });

    it('answers alike when the stores fail', async () => {
      const answers = new Map<string, string[]>();
      for (const l of built) answers.set(l.lang, await runOn(await hostFor(l.suffix, []), STORE_DOWN));
      const statuses = answers.get('as')!.map((a) => JSON.parse(a)[0]);
      expect(statuses).toEqual([503, 503, 503, 400, 503, 200]);
      compare(STORE_DOWN, answers);
    });
  });

  describe('cluster tier (a roam host process)', () => {
    let host: RoamProcess;
    beforeAll(async () => {
      host = await startHost('cluster', ['carts=memory', 'catalog=memory'], '--exec', 'inline');
      for (const [k, v] of Object.entries(CATALOG)) {
        const r = await fetch(`${host.url}/stores/catalog/keys/${encodeURIComponent(k)}`, {
          method: 'PUT',
          body: v,
        });
        expect(r.status).toBe(204);
      }
      for (const l of built) {
        for (const e of ENDPOINTS) {
          const up = await fetch(`${host.url}/modules`, {
            method: 'POST',
            body: readFileSync(modulePath(e, l.suffix)),
          });
          const { digest } = (await up.json()) as { digest: string };
          const on = await fetch(`${host.url}/endpoints/${e}-${l.lang}`, {
            method: 'PUT',
            body: JSON.stringify({ digest }),
          });
          expect(on.status).toBe(200);
        }
      }
    });
    afterAll(() => stopAll());

    it('answers the corpus alike in every language over HTTP', async () => {
      const answers = new Map<string, string[]>();
      for (const l of built) {
        // Each language starts from empty carts.
        const listed = await fetch(`${host.url}/stores/carts/keys`);
        for (const k of ((await listed.json()) as { keys: string[] }).keys)
          await fetch(`${host.url}/stores/carts/keys/${encodeURIComponent(k)}`, { method: 'DELETE' });
        const out: string[] = [];
        for (const c of CORPUS) {
          const res = await fetch(`${host.url}/invoke/${c.endpoint}-${l.lang}${c.url}`, {
            method: c.method,
            headers: c.headers,
            body: c.body === undefined || c.body === '' ? undefined : c.body,
          });
          const body = new Uint8Array(await res.arrayBuffer());
          out.push(answer({ status: res.status, headers: [...res.headers], body }));
        }
        answers.set(l.lang, out);
      }
      compare(CORPUS, answers);
    });
  });
});
