// The node side: a NodeProfiler turns a proxy's requests and its Wasm host's exact accounting into delta
// batches (each count sent once), with CPU time and memory sampled on inline and worker execution; legacy
// paths become route templates; past its cap a node folds new names into "(other)"; the prober times
// round trips to real servers and counts the ones that fail.
import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { listenOn, PROBE_PATH } from '../../core/http.ts';
import { endpointModule, request } from '../../test/support/modules.ts';
import { type ExecMode, MemoryStore, WasmHost } from '../../wasm-host/index.ts';
import { NetworkProber, NodeProfiler, OTHER } from '../index.ts';
import { summarize } from '../probes.ts';

describe.each<ExecMode>(['inline', 'worker'])('execution reports (%s)', (exec) => {
  const host = new WasmHost({
    id: `h-${exec}`,
    tier: 'cluster',
    exec,
    workers: { minThreads: 1, maxThreads: 1 },
    stores: [new MemoryStore('carts', 'here')],
  });
  afterAll(() => host.close());

  it('sends each invocation, store access and CPU sample once', async () => {
    await host.activate('cart', host.modules.put(endpointModule('cart')));
    const profiler = new NodeProfiler({ host });
    for (let i = 0; i < 10; i++)
      await host.invoke('cart', request('POST', '/cart/ada/items', 'sku=book&qty=1'));
    const first = profiler.batch('h');
    expect(first.executions).toHaveLength(1);
    const x = first.executions[0]!;
    expect(x).toMatchObject({ endpoint: 'cart', invocations: 10, errors: 0 });
    expect(x.latency.count).toBe(10);
    expect(x.stores).toEqual([expect.objectContaining({ store: 'carts' })]);
    expect(x.stores[0]!.accesses).toBeGreaterThanOrEqual(20);
    expect(x.cpuSamples).toBeGreaterThan(0);
    expect(x.cpuMicros).toBeGreaterThan(0);
    expect(x.memoryBytes).toBeGreaterThanOrEqual(65536);
    // Nothing new: nothing sent. Then only what happened since.
    expect(profiler.batch('h').executions).toEqual([]);
    await host.invoke('cart', request('GET', '/cart/ada'));
    const next = profiler.batch('h').executions[0]!;
    expect(next.invocations).toBe(1);
    expect(next.latency.count).toBe(1);
    expect(next.stores[0]!.accesses).toBeLessThan(x.stores[0]!.accesses);
  });
});

describe('origin reports', () => {
  it('names legacy paths by route template and sends deltas', () => {
    const p = new NodeProfiler();
    p.passthroughRequest('/orders/12345?full=1', 200, 3, 0, 120);
    p.passthroughRequest('/orders/67890', 503, 5, 0, 10);
    p.passthroughRequest('/users/3f2a9c1e-0b7d-4e51-9a3c-2f4b6d8e0a1c/avatar', 200, 1, 0, 5);
    p.passthroughRequest('/a/b/c/d/e', 200, 1, 0, 5);
    p.endpointRequest('hello', false, 200, 1, 10, 40);
    const b = p.batch('p');
    const byName = Object.fromEntries(b.origins.map((o) => [o.endpoint, o]));
    expect(Object.keys(byName).sort()).toEqual(['/a/b/c/*', '/orders/{id}', '/users/{id}/avatar', 'hello']);
    expect(byName['/orders/{id}']).toMatchObject({
      legacy: true,
      requests: 2,
      errors: 1,
      responseBytes: 130,
    });
    expect(byName.hello).toMatchObject({ legacy: false, requests: 1, requestBytes: 10, responseBytes: 40 });
    p.endpointRequest('hello', false, 200, 1, 10, 40);
    expect(p.batch('p').origins).toEqual([expect.objectContaining({ endpoint: 'hello', requests: 1 })]);
  });

  it('folds names past its cap into "(other)" and says how many', () => {
    const p = new NodeProfiler({ limits: { maxEndpoints: 10 } });
    for (let i = 0; i < 100; i++) p.passthroughRequest(`/page-${i}`, 200, 1, 0, 0);
    const b = p.batch('p');
    expect(p.origins.size).toBe(11);
    expect(b.origins.find((o) => o.endpoint === OTHER)?.requests).toBe(90);
    expect(b.dropped).toBe(90);
  });
});

describe('network prober', () => {
  let server: Server;
  afterAll(() => server?.close());

  it('times round trips to a node and counts the probes that fail', async () => {
    let probes = 0;
    server = createServer((req, res) => {
      if (req.url === PROBE_PATH) probes++;
      res.writeHead(req.url === PROBE_PATH ? 204 : 404).end();
    });
    const { port } = await listenOn(server, 0, '127.0.0.1');
    const dead = createServer();
    const { port: deadPort } = await listenOn(dead, 0, '127.0.0.1');
    await new Promise((r) => dead.close(r));
    const prober = new NetworkProber({ timeoutMs: 1000 });
    prober.setPeers([
      { nodeId: 'alive', address: `http://127.0.0.1:${port}` },
      { nodeId: 'gone', address: `http://127.0.0.1:${deadPort}` },
      { nodeId: 'nonsense', address: 'not a url' },
    ]);
    prober.setStores([{ name: 'carts', location: 'storage', address: `http://127.0.0.1:${port}` }]);
    for (let i = 0; i < 3; i++) await prober.round();
    const results = Object.fromEntries(prober.results().map((r) => [`${r.kind}:${r.target}`, r]));
    expect(Object.keys(results).sort()).toEqual(['node:alive', 'node:gone', 'store:carts']);
    expect(results['node:alive']).toMatchObject({ samples: 3, lost: 0 });
    expect(results['node:alive']!.rttMs).toBeGreaterThan(0);
    expect(results['store:carts']).toMatchObject({ location: 'storage', samples: 3 });
    expect(results['node:gone']).toMatchObject({ samples: 0, lost: 3 });
    // One warm-up request per target, then one per round.
    expect(probes).toBe(2 * 4);
    prober.setPeers([]);
    expect(prober.results().map((r) => r.target)).toEqual(['carts']);
    prober.close();
  });

  it('summarises samples as median and jitter', () => {
    expect(summarize([1, 3, 2, Number.NaN, 10])).toEqual({
      rttMs: 2.5,
      jitterMs: (2 + 1 + 8) / 3,
      samples: 4,
      lost: 1,
    });
  });
});
