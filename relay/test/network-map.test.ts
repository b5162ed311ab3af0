// Network maps: planning routes and maps from a topology and nodes, checking map files, and undici
// dispatchers that follow the map through `roam relay` to the real destination.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRoam, stopAll } from '../../cli/spawn.ts';
import { closeServer, listenOn } from '../../core/http.ts';
import { loadNetworkMap, networkConnector, parseNetworkMap, setNetworkMap } from '../../core/network.ts';
import { DEFAULT_TOPOLOGY_FILE, loadTopology, planRelay, planRoutes } from '../index.ts';

const topology = loadTopology(DEFAULT_TOPOLOGY_FILE);
const nodes = [
  { name: 'phone', site: 'device', address: '127.0.0.1:7501' },
  { name: 'pop', site: 'edge', address: '127.0.0.1:7502' },
  { name: 'cp', site: 'cluster', address: '127.0.0.1:7503' },
  { name: 'store', site: 'cluster', address: '127.0.0.1:7504' },
];

describe('relay plan', () => {
  it('opens a port per source site and destination at another site, and maps each node to them', () => {
    const plan = planRelay(topology, nodes, { basePort: 9000 });
    expect(plan.routes).toHaveLength(3 + 3 + 2);
    expect(plan.routes.map((r) => r.listen)).toEqual(plan.routes.map((_, i) => `127.0.0.1:${9000 + i}`));
    const phoneToStore = plan.routes.find((r) => r.from === 'device' && r.target === '127.0.0.1:7504')!;
    expect(phoneToStore.link.rttMs).toBe(50);
    expect(plan.maps.phone!.routes['127.0.0.1:7504']).toBe(phoneToStore.listen);
    // The cluster's own nodes reach each other directly: no route, no map entry.
    expect(plan.maps.cp!.routes['127.0.0.1:7504']).toBeUndefined();
    expect(Object.keys(plan.maps.cp!.routes).sort()).toEqual(['127.0.0.1:7501', '127.0.0.1:7502']);
    expect(plan.maps.cp!.site).toBe('cluster');
  });

  it('refuses nodes it cannot place', () => {
    expect(() => planRoutes(topology, [{ name: 'x', site: 'moon', address: '127.0.0.1:1' }])).toThrow(
      'node "x": site "moon" is not in the topology',
    );
    expect(() => planRoutes(topology, [{ name: 'x', site: 'edge', address: 'nowhere' }])).toThrow(
      'node "x" address expects HOST:PORT',
    );
    expect(() => planRoutes(topology, [nodes[0]!, { ...nodes[1]!, address: nodes[0]!.address }])).toThrow(
      'share the address',
    );
    expect(() => planRelay(topology, nodes, { basePort: 65530 })).toThrow('relay base port');
  });
});

describe('network map', () => {
  it('refuses a bad map naming what is wrong', () => {
    expect(() => parseNetworkMap([], 'm.json')).toThrow('network map m.json: expected a JSON object');
    expect(() => parseNetworkMap({ routes: { 'a:1': 'nope' } }, 'm.json')).toThrow(
      'routes["a:1"] must be "HOST:PORT"',
    );
    expect(() => parseNetworkMap({ routes: { x: '127.0.0.1:1' } }, 'm.json')).toThrow('route key must be');
    expect(() => loadNetworkMap('/nonexistent/map.json')).toThrow('network map /nonexistent/map.json');
    expect(parseNetworkMap({ routes: { '[::1]:80': '127.0.0.1:9' } }, 'm').routes).toEqual({
      '::1:80': '127.0.0.1:9',
    });
  });

  describe('through `roam relay`', () => {
    let dir: string;
    const server = createServer((req, res) => res.end(`host=${req.headers.host}`));
    let cluster: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'roam-relay-'));
      cluster = `127.0.0.1:${(await listenOn(server, 0, '127.0.0.1')).port}`;
    });
    afterEach(() => setNetworkMap(null));
    afterAll(async () => {
      await stopAll();
      await closeServer(server, false);
      rmSync(dir, { recursive: true, force: true });
    });

    it('sends a device node to a cluster node through the 50 ms route, Host unchanged', async () => {
      // The device node's own address is never dialled here; port 1 stands for it.
      await startRoam([
        'relay',
        '--node',
        'phone=device@127.0.0.1:1',
        '--node',
        `api=cluster@${cluster}`,
        '--maps-dir',
        dir,
      ]);
      setNetworkMap(loadNetworkMap(join(dir, 'phone.json')));
      const pool = new Pool(`http://${cluster}`, { connect: networkConnector() });
      try {
        const get = async () => {
          const t0 = performance.now();
          const res = await pool.request({ method: 'GET', path: '/' });
          return { body: await res.body.text(), ms: performance.now() - t0 };
        };
        const first = await get();
        expect(first.body).toBe(`host=${cluster}`);
        const again = await get();
        expect(again.ms).toBeGreaterThanOrEqual(50);
        // Without a map a pool connects directly.
        setNetworkMap(null);
        const direct = new Pool(`http://${cluster}`, { connect: networkConnector() });
        const directMs: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          await (await direct.request({ method: 'GET', path: '/' })).body.text();
          directMs.push(performance.now() - t0);
        }
        expect(Math.min(...directMs)).toBeLessThan(50);
        await direct.close();
      } finally {
        await pool.close();
      }
    });

    it('reaches a destination only the relay knows: a map entry for an address nobody listens on', async () => {
      const relay = await startRoam([
        'relay',
        '--node',
        'a=edge@127.0.0.1:2',
        '--node',
        `b=cluster@${cluster}`,
      ]);
      const maps = relay.info.maps as Record<string, { routes: Record<string, string> }>;
      const file = join(dir, 'edge-alias.json');
      writeFileSync(file, JSON.stringify({ routes: { '127.0.0.1:3': maps.a!.routes[cluster] } }));
      setNetworkMap(loadNetworkMap(file));
      const pool = new Pool('http://127.0.0.1:3', { connect: networkConnector() });
      const res = await pool.request({ method: 'GET', path: '/' });
      expect(await res.body.text()).toBe('host=127.0.0.1:3');
      await pool.close();
    });
  });
});
