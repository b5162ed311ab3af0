import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointModule } from './support/modules.ts';
import {
  type RoamProcess,
  removeTempFiles,
  startHost,
  startRoam,
  stopAll,
  tempJson,
} from './support/processes.ts';

const root = new URL('..', import.meta.url).pathname;
const stores = (names: string[]) => names.flatMap((s) => ['--store', `${s}=memory`]);

let proxy: RoamProcess;
let cartA: RoamProcess;
let cartB: RoamProcess;
let edge: RoamProcess;

async function deploy(host: RoamProcess, name: string): Promise<void> {
  const up = await request(`${host.url}/modules`, { method: 'POST', body: endpointModule(name) });
  const { digest } = (await up.body.json()) as { digest: string };
  const act = await request(`${host.url}/endpoints/${name}`, {
    method: 'PUT',
    body: JSON.stringify({ digest }),
  });
  expect(act.statusCode).toBe(200);
  await act.body.dump();
}

beforeAll(async () => {
  // The carts store lives on its own host; both cart hosts reach it over the network, as replicas would.
  const storage = await startHost('cluster', ['carts=memory']);
  const cartHost = () => startHost('cluster', [`carts=${storage.url}`]);
  cartA = await cartHost();
  cartB = await cartHost();
  for (const h of [cartA, cartB]) await deploy(h, 'cart');

  // The proxy's port is not known before it starts, so the edge host that calls back through it comes after.
  const routesFile = (edgeUrl?: string) =>
    tempJson('routes.json', {
      version: 1,
      routes: [
        { match: 'GET /hello', endpoint: 'hello' },
        { match: '* /cart/*', endpoint: 'cart', retries: 2 },
        { match: 'POST /checkout/{user}', endpoint: 'checkout' },
        ...(edgeUrl
          ? [{ match: 'POST /checkout/{user}', endpoint: 'edge-checkout', host: 'edge.example' }]
          : []),
      ],
      endpoints: {
        hello: { module: `${root}build/endpoints/hello.wasm`, targets: [{ kind: 'local', weight: 1 }] },
        checkout: {
          module: `${root}build/endpoints/checkout.wasm`,
          targets: [{ kind: 'local', weight: 1 }],
        },
        pricing: { module: `${root}build/endpoints/pricing.wasm`, targets: [{ kind: 'local', weight: 1 }] },
        cart: {
          targets: [
            { kind: 'host', url: cartA.url, weight: 1 },
            { kind: 'host', url: cartB.url, weight: 1 },
          ],
        },
        ...(edgeUrl ? { 'edge-checkout': { targets: [{ kind: 'host', url: edgeUrl, weight: 1 }] } } : {}),
      },
    });
  const first = await startRoam([
    'proxy',
    '--listen',
    '127.0.0.1:0',
    '--routes',
    routesFile(),
    ...stores(['catalog', 'orders']),
  ]);
  edge = await startHost('edge', ['orders=memory'], '--mesh', `${first.url}/.roam/call`);
  // The edge host runs checkout under another name; its calls to cart and pricing go back through the proxy.
  const up = await request(`${edge.url}/modules`, { method: 'POST', body: endpointModule('checkout') });
  const { digest } = (await up.body.json()) as { digest: string };
  await (
    await request(`${edge.url}/endpoints/edge-checkout`, { method: 'PUT', body: JSON.stringify({ digest }) })
  ).body.dump();
  await first.stop();
  proxy = await startRoam([
    'proxy',
    '--listen',
    first.address,
    '--routes',
    routesFile(edge.url),
    ...stores(['catalog', 'orders']),
  ]);
}, 60_000);
afterAll(async () => {
  await stopAll();
  removeTempFiles();
});

describe('mesh', () => {
  it('runs an endpoint inside the proxy', async () => {
    const res = await request(`${proxy.url}/hello?name=mesh`);
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { message: string }).message).toBe('Hello, mesh!');
  });

  it('dispatches to standalone hosts and back: checkout in the proxy calls cart on a host', async () => {
    const add = await request(`${proxy.url}/cart/ada/items`, { method: 'POST', body: 'sku=book&qty=2' });
    expect(add.statusCode).toBe(200);
    await add.body.dump();
    const res = await request(`${proxy.url}/checkout/ada`, { method: 'POST' });
    expect(res.statusCode).toBe(201);
    expect(await res.body.json()).toMatchObject({ order: 'order-1', user: 'ada', items: 1 });
  });

  it('routes calls from an endpoint on a standalone host through the proxy', async () => {
    const res = await request(`${proxy.url}/checkout/ada`, {
      method: 'POST',
      headers: { host: 'edge.example' },
    });
    const body = await res.body.text();
    expect(res.statusCode, body).toBe(201);
    expect(JSON.parse(body)).toMatchObject({ user: 'ada', items: 1 });
  });

  it('keeps serving when a host dies: its requests are retried on the other', async () => {
    await cartA.stop('SIGKILL');
    for (let i = 0; i < 20; i++) {
      const res = await request(`${proxy.url}/cart/ada`);
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { count: number }).count).toBe(2);
    }
  });
});
