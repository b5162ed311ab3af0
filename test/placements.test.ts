// Endpoints are written once: the same compiled modules give the same responses wherever they run. The same
// request script runs against the in-process host (inline and on worker threads, as a proxy embeds it) and
// against standalone `roam host` processes of every tier, one of them reaching its store over the network.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EndpointRequest, MemoryStore, WasmHost } from '../wasm-host/index.ts';
import { endpointModule, request as req, text } from './support/modules.ts';
import { type RoamProcess, startHost, stopAll } from './support/processes.ts';

const ENDPOINTS = ['hello', 'resize', 'cart', 'pricing', 'checkout'];
const STORES = ['carts', 'catalog', 'orders'];

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

type Invoke = (endpoint: string, r: EndpointRequest) => Promise<Answer>;

function image(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 4);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 6)) & 0xff;
  return px;
}

const SCRIPT: [string, EndpointRequest][] = [
  ['hello', req('GET', '/hello?name=Ada%20Lovelace')],
  ['hello', req('GET', '/hello')],
  ['resize', req('POST', '/resize?w=64&h=48&tw=16&th=12', image(64, 48))],
  ['resize', req('POST', '/resize?w=64&h=48&tw=16&th=12', image(8, 8))],
  ['cart', req('GET', '/cart/ada')],
  ['cart', req('POST', '/cart/ada/items', 'sku=book&qty=2')],
  ['cart', req('POST', '/cart/ada/items', 'sku=pen&qty=3')],
  ['cart', req('POST', '/cart/ada/items', 'sku=book')],
  ['cart', req('DELETE', '/cart/ada/items/pen')],
  ['cart', req('DELETE', '/cart/ada/items/pen')],
  ['cart', req('POST', '/cart/ada/items', 'sku=bad sku!')],
  ['pricing', req('POST', '/pricing', '{"items":[{"sku":"book","qty":3},{"sku":"lamp","qty":1}]}')],
  ['pricing', req('POST', '/pricing', 'not json')],
  ['checkout', req('POST', '/checkout/ada')],
  ['checkout', req('POST', '/checkout/ada')],
  ['checkout', req('POST', '/checkout/nobody')],
];

async function runScript(invoke: Invoke): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const [endpoint, r] of SCRIPT) out.push(await invoke(endpoint, r));
  return out;
}

function libraryInvoke(host: WasmHost): Invoke {
  return async (endpoint, r) => {
    const res = await host.invoke(endpoint, r);
    const contentType = res.headers.find(([k]) => k === 'content-type')?.[1];
    const body =
      contentType === 'application/octet-stream' ? Buffer.from(res.body).toString('base64') : text(res.body);
    return { status: res.status, contentType, body };
  };
}

function processInvoke(proc: RoamProcess): Invoke {
  return async (endpoint, r) => {
    const res = await request(`${proc.url}/invoke/${endpoint}${r.path}${r.query ? `?${r.query}` : ''}`, {
      method: r.method as 'GET',
      body: r.body.length > 0 ? r.body : null,
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const contentType = res.headers['content-type'] as string | undefined;
    const body = contentType === 'application/octet-stream' ? bytes.toString('base64') : bytes.toString();
    return { status: res.statusCode, contentType, body };
  };
}

async function deploy(proc: RoamProcess): Promise<void> {
  for (const name of ENDPOINTS) {
    const up = await request(`${proc.url}/modules`, { method: 'POST', body: endpointModule(name) });
    const { digest } = (await up.body.json()) as { digest: string };
    const act = await request(`${proc.url}/endpoints/${name}`, {
      method: 'PUT',
      body: JSON.stringify({ digest }),
    });
    expect(act.statusCode, await act.body.text()).toBe(200);
  }
}

const placements: [string, Invoke][] = [];
const libraryHosts: WasmHost[] = [];

beforeAll(async () => {
  for (const exec of ['inline', 'worker'] as const) {
    const host = new WasmHost({
      id: `in-process-${exec}`,
      tier: 'in-process',
      exec,
      workers: { minThreads: 1, maxThreads: 2 },
      stores: STORES.map((s) => new MemoryStore(s, 'local')),
    });
    for (const name of ENDPOINTS) await host.activate(name, host.modules.put(endpointModule(name)));
    libraryHosts.push(host);
    placements.push([`in-process library (${exec})`, libraryInvoke(host)]);
  }
  const localStores = STORES.map((s) => `${s}=memory`);
  for (const tier of ['in-process', 'cluster', 'edge', 'device']) {
    const proc = await startHost(tier, localStores);
    await deploy(proc);
    placements.push([`roam host --tier ${tier}`, processInvoke(proc)]);
  }
  // A device host whose carts live on another host, reached over the network.
  const storage = await startHost('cluster', ['carts=memory']);
  const remote = await startHost('device', [`carts=${storage.url}`, 'catalog=memory', 'orders=memory']);
  await deploy(remote);
  placements.push(['roam host --tier device, carts remote', processInvoke(remote)]);
}, 60_000);

afterAll(async () => {
  for (const h of libraryHosts) await h.close();
  await stopAll();
});

describe('the same module in every placement', () => {
  it('answers the whole script identically everywhere', async () => {
    const results: [string, Answer[]][] = [];
    for (const [name, invoke] of placements) results.push([name, await runScript(invoke)]);
    const [, reference] = results[0]!;
    for (const [name, answers] of results.slice(1)) {
      for (const [i, answer] of answers.entries()) {
        expect(answer, `${name}, step ${i} (${SCRIPT[i]![1].method} ${SCRIPT[i]![1].path})`).toEqual(
          reference[i],
        );
      }
    }

    // And the answers are right, not just equal.
    const status = reference.map((a) => a.status);
    expect(status).toEqual([200, 200, 200, 400, 200, 200, 200, 200, 200, 404, 400, 200, 400, 201, 201, 409]);
    expect(JSON.parse(reference[0]!.body)).toEqual({
      message: 'Hello, Ada Lovelace!',
      hash: expect.any(String),
    });
    expect(JSON.parse(reference[1]!.body).message).toBe('Hello, world!');
    expect(Buffer.from(reference[2]!.body, 'base64').length).toBe(16 * 12 * 4);
    expect(JSON.parse(reference[8]!.body)).toEqual({
      user: 'ada',
      items: [{ sku: 'book', qty: 3 }],
      count: 3,
    });
    const priced = JSON.parse(reference[11]!.body);
    expect(priced.lines).toHaveLength(2);
    expect(priced.total).toBe(priced.lines[0].amount + priced.lines[1].amount);
    expect(JSON.parse(reference[13]!.body)).toMatchObject({ order: 'order-1', user: 'ada', items: 1 });
    expect(JSON.parse(reference[14]!.body).order).toBe('order-2');
  }, 60_000);
});
