// The JavaScript build the image runs (build/js, from `npm run build`): a sidecar started from it with the
// sidecar's V8 flags passes traffic through, and runs placed endpoints on worker threads, whose module it finds
// in the build (core/paths.ts) rather than in the sources.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScript, stopAll } from '../cli/spawn.ts';
import { ROOT } from '../core/paths.ts';
import { createLegacyService } from '../examples/legacy-service/server.ts';
import { SIDECAR_NODE_FLAGS } from '../proxy/node-flags.ts';
import { removeTempFiles, tempJson } from './support/processes.ts';

const legacy = createLegacyService();
let upstream = '';

beforeAll(async () => {
  legacy.listen(0, '127.0.0.1');
  await once(legacy, 'listening');
  upstream = `http://127.0.0.1:${(legacy.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stopAll();
  legacy.closeAllConnections();
  legacy.close();
  removeTempFiles();
});

describe('the JavaScript build', () => {
  it('runs a sidecar that passes traffic through and runs endpoints on worker threads', async () => {
    const routes = tempJson('routes.json', {
      version: 1,
      routes: [{ match: 'GET /hello', endpoint: 'hello' }],
      endpoints: {
        hello: { module: `${ROOT}build/endpoints/hello.wasm`, targets: [{ kind: 'local', weight: 1 }] },
      },
    });
    const proxy = await startScript(
      `${ROOT}build/js/bin/roam.js`,
      ['proxy', '--listen', '127.0.0.1:0', '--upstream', upstream, '--routes', routes, '--exec', 'worker'],
      {},
      { node: SIDECAR_NODE_FLAGS },
    );
    for (let i = 0; i < 20; i++) {
      const passed = await request(`${proxy.url}/legacy/hello`);
      expect(passed.statusCode).toBe(200);
      expect(await passed.body.text()).toContain('hello from the legacy service');
      const placed = await request(`${proxy.url}/hello?name=build`);
      expect(placed.statusCode).toBe(200);
      expect(await placed.body.text()).toContain('build');
    }
  });
});
