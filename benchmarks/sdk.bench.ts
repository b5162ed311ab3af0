// The SDKs against each other (issue 20): for hello, pricing and cart built from AssemblyScript, Rust and C,
// the inline call's median latency, the module's size, and cold start (module bytes handed to a fresh host ->
// first answer: check, instrument, compile, instantiate, warm, invoke), with ratios against AssemblyScript.
// A language whose build is absent (no toolchain at build time) is left out, with a line saying so.
// Run: npm run bench -- sdk   (or: npx node benchmarks/sdk.bench.ts [--quick])
import { existsSync, readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { type EndpointRequest, MemoryStore, WasmHost } from '../wasm-host/index.ts';

const quick = process.argv.includes('--quick');
const LANGUAGES = [
  { lang: 'AssemblyScript', suffix: '' },
  { lang: 'Rust', suffix: '.rust' },
  { lang: 'C', suffix: '.c' },
];
const enc = new TextEncoder();
const REQUESTS: Record<string, EndpointRequest> = {
  hello: { method: 'GET', path: '/hello', query: 'name=roam', headers: [], body: new Uint8Array() },
  pricing: {
    method: 'POST',
    path: '/pricing',
    query: '',
    headers: [],
    body: enc.encode(
      JSON.stringify({
        items: [
          { sku: 'A', qty: 2 },
          { sku: 'B', qty: 1 },
          { sku: 'C', qty: 5 },
        ],
      }),
    ),
  },
  cart: { method: 'GET', path: '/cart/alice', query: '', headers: [], body: new Uint8Array() },
};

function stores(): MemoryStore[] {
  const catalog = new MemoryStore('catalog', 'here');
  catalog.put('price:A', enc.encode('250'));
  const carts = new MemoryStore('carts', 'here');
  carts.put('cart:alice', enc.encode('A,B,C'));
  for (const sku of ['A', 'B', 'C']) carts.put(`item:alice:${sku}`, enc.encode('2'));
  return [catalog, carts];
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const available = LANGUAGES.filter((l) => {
  const ok = Object.keys(REQUESTS).every((e) =>
    existsSync(new URL(`../build/endpoints/${e}${l.suffix}.wasm`, import.meta.url)),
  );
  if (!ok) console.log(`sdk bench: ${l.lang} left out (its build is absent; see npm run build's output)`);
  return ok;
});

interface Row {
  endpoint: string;
  lang: string;
  p50us: number;
  bytes: number;
  coldMs: number;
}
const rows: Row[] = [];
for (const endpoint of Object.keys(REQUESTS)) {
  for (const { lang, suffix } of available) {
    const bytes = readFileSync(new URL(`../build/endpoints/${endpoint}${suffix}.wasm`, import.meta.url));
    const req = REQUESTS[endpoint]!;
    const cold: number[] = [];
    for (let i = 0; i < (quick ? 5 : 15); i++) {
      const host = new WasmHost({ id: `cold-${i}`, tier: 'cluster', exec: 'inline', stores: stores() });
      const start = performance.now();
      await host.activate(endpoint, host.modules.put(bytes));
      await host.invoke(endpoint, req);
      cold.push(performance.now() - start);
      host.close();
    }
    const host = new WasmHost({ id: 'warm', tier: 'cluster', exec: 'inline', stores: stores() });
    await host.activate(endpoint, host.modules.put(bytes));
    const bench = new Bench({ time: quick ? 300 : 1500, warmupTime: 200 });
    bench.add(`${endpoint} ${lang}`, async () => {
      await host.invoke(endpoint, req);
    });
    await bench.run();
    host.close();
    const r = bench.tasks[0]!.result as { latency?: { p50?: number } } | undefined;
    rows.push({
      endpoint,
      lang,
      p50us: (r?.latency?.p50 ?? Number.NaN) * 1000,
      bytes: bytes.length,
      coldMs: median(cold),
    });
  }
}

console.log(
  '\nThe same endpoint per language: inline call p50, module size, cold start (bytes -> first answer)',
);
console.table(
  rows.map((r) => {
    const as = rows.find((b) => b.endpoint === r.endpoint && b.lang === 'AssemblyScript')!;
    return {
      endpoint: r.endpoint,
      language: r.lang,
      'p50 (us)': r.p50us.toFixed(2),
      'x AS': (r.p50us / as.p50us).toFixed(2),
      'size (KB)': (r.bytes / 1024).toFixed(1),
      'size x AS': (r.bytes / as.bytes).toFixed(2),
      'cold start (ms)': r.coldMs.toFixed(2),
      'cold x AS': (r.coldMs / as.coldMs).toFixed(2),
    };
  }),
);
