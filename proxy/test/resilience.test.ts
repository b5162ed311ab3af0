// Resilience of endpoint dispatch, against real HTTP targets on loopback whose behaviour each test controls:
// per-route timeouts, retries only where safe and within a budget, ejection of a failing target, load
// shedding, and local replies a client can act on.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModule } from '../../test/support/modules.ts';
import { WasmHost } from '../../wasm-host/index.ts';
import { type RouteConfig, SidecarProxy } from '../index.ts';

type Behaviour = (req: IncomingMessage, res: ServerResponse) => void;

class TargetServer {
  behaviour: Behaviour;
  constructor(answer = 'ok') {
    this.behaviour = (_req, res) => res.end(answer);
  }
  hits = 0;
  /** Requests whose caller went away before the answer was finished. */
  aborted = 0;
  readonly server: Server = createServer((req, res) => {
    this.hits++;
    res.once('close', () => {
      if (!res.writableFinished) this.aborted++;
    });
    req.resume();
    req.on('end', () => this.behaviour(req, res));
  });
  url = '';
  async start(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  stop(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}

let a: TargetServer;
let b: TargetServer;
let proxy: SidecarProxy;
let base = '';

function config(
  overrides: Partial<RouteConfig['routes'][number]> = {},
  targets = () => [a.url, b.url],
): RouteConfig {
  return {
    version: 1,
    routes: [{ match: '* /api/*', endpoint: 'api', timeoutMs: 1000, retries: 2, ...overrides }],
    endpoints: { api: { targets: targets().map((url) => ({ kind: 'host', url, weight: 1 })) } },
  };
}

beforeAll(async () => {
  a = await new TargetServer('a').start();
  b = await new TargetServer('b').start();
  proxy = new SidecarProxy({ id: 'resilience', limits: { maxPendingPerTarget: 2 } });
  const addr = await proxy.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${addr.port}`;
});
afterEach(() => {
  a.behaviour = (_req, res) => res.end('a');
  b.behaviour = (_req, res) => res.end('b');
  a.hits = 0;
  b.hits = 0;
  a.aborted = 0;
  b.aborted = 0;
});
afterAll(async () => {
  await proxy.drain(100);
  a.stop();
  b.stop();
});

describe('endpoint dispatch', () => {
  it('sends requests to /invoke/NAME on the target with the original path and query', async () => {
    let seen = '';
    a.behaviour = b.behaviour = (req, res) => {
      seen = req.url ?? '';
      res.end('ok');
    };
    await proxy.applyRoutes(config());
    const res = await request(`${base}/api/items?x=1`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(seen).toBe('/invoke/api/api/items?x=1');
  });

  it('answers 504 naming the endpoint when the route timeout passes', async () => {
    a.behaviour = b.behaviour = () => {};
    await proxy.applyRoutes(config({ timeoutMs: 200, retries: 0 }));
    const res = await request(`${base}/api/slow`);
    expect(res.statusCode).toBe(504);
    expect(res.headers['x-roam-error']).toBe('ROAM_ERR_ENDPOINT_TIMEOUT');
    expect(res.headers['x-roam-endpoint']).toBe('api');
    expect(((await res.body.json()) as { endpoint: string }).endpoint).toBe('api');
  });

  it('retries an idempotent request on another target when one fails', async () => {
    a.behaviour = (req) => req.socket.destroy();
    b.behaviour = (_req, res) => res.end('b');
    await proxy.applyRoutes(config({ retries: 1 }, () => [a.url, b.url]));
    for (let i = 0; i < 6; i++) {
      const res = await request(`${base}/api/x`);
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('b');
    }
  });

  it('does not retry a non-idempotent request that may have reached the target', async () => {
    a.behaviour = b.behaviour = (req) => req.socket.destroy();
    await proxy.applyRoutes(config({ retries: 2 }, () => [a.url]));
    const res = await request(`${base}/api/order`, { method: 'POST', body: 'x' });
    expect(res.statusCode).toBe(502);
    await res.body.dump();
    expect(a.hits).toBe(1);
  });

  it('retries any method when the target refused the connection (nothing was sent)', async () => {
    const dead = await new TargetServer().start();
    const deadUrl = dead.url;
    dead.stop();
    await proxy.applyRoutes(config({ retries: 1 }, () => [deadUrl, b.url]));
    for (let i = 0; i < 4; i++) {
      const res = await request(`${base}/api/order`, { method: 'POST', body: 'x' });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
  });

  it('ejects a target that keeps failing, so traffic goes to the healthy one', async () => {
    const flaky = await new TargetServer().start();
    flaky.behaviour = (req) => req.socket.destroy();
    await proxy.applyRoutes(config({ retries: 0 }, () => [flaky.url, b.url]));
    for (let i = 0; i < 40; i++) await (await request(`${base}/api/x`)).body.dump();
    const hitsBefore = flaky.hits;
    for (let i = 0; i < 20; i++) {
      const res = await request(`${base}/api/x`);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    expect(flaky.hits).toBe(hitsBefore);
    const target = proxy.targets.all().find((t) => t.key === `host:${flaky.url}`)!;
    expect(target.ejections).toBeGreaterThan(0);
    flaky.stop();
  });

  it('sheds load past the pending cap with 503 instead of queueing', async () => {
    const slow = await new TargetServer().start();
    const release: (() => void)[] = [];
    slow.behaviour = (_req, res) => release.push(() => res.end('late'));
    await proxy.applyRoutes(config({ retries: 0, timeoutMs: 5000 }, () => [slow.url]));
    const held = [request(`${base}/api/1`), request(`${base}/api/2`)];
    while (release.length < 2) await new Promise((r) => setTimeout(r, 10));
    const shed = await request(`${base}/api/3`);
    expect(shed.statusCode).toBe(503);
    expect(shed.headers['x-roam-error']).toBe('ROAM_ERR_OVERLOADED');
    await shed.body.dump();
    for (const r of release) r();
    for (const h of held) expect((await h).statusCode).toBe(200);
    slow.stop();
  });

  it('refuses a body over the limit with 413 naming the endpoint', async () => {
    await proxy.applyRoutes(config());
    const res = await request(`${base}/api/upload`, { method: 'POST', body: Buffer.alloc(9 * 1024 * 1024) });
    expect(res.statusCode).toBe(413);
    expect(res.headers['x-roam-endpoint']).toBe('api');
    await res.body.dump();
  });

  it('keeps requests in flight on the table they started with when a new one is swapped in', async () => {
    let finish: (() => void) | undefined;
    a.behaviour = (_req, res) => {
      finish = () => res.end('from the old table');
    };
    await proxy.applyRoutes(config({ retries: 0 }, () => [a.url]));
    const inFlight = request(`${base}/api/x`);
    while (!finish) await new Promise((r) => setTimeout(r, 10));
    await proxy.applyRoutes({ ...config({ retries: 0 }, () => [b.url]), version: 2 });
    expect(proxy.routeTable.version).toBe(2);
    finish();
    expect(await (await inFlight).body.text()).toBe('from the old table');
    expect(await (await request(`${base}/api/x`)).body.text()).toBe('b');
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 10));
}

describe('cancellation', () => {
  it('aborts the attempt in flight when the route timeout passes, and starts no further attempt', async () => {
    // Each attempt fails at the transport after 150 ms, so without cancellation the retries would go on past
    // the 200 ms timeout: a, then b (aborted at 200 ms), then a and b again.
    a.behaviour = b.behaviour = (req) => setTimeout(() => req.socket.destroy(), 150);
    await proxy.applyRoutes(config({ timeoutMs: 200, retries: 3 }));
    const res = await request(`${base}/api/slow`);
    expect(res.statusCode).toBe(504);
    await res.body.dump();
    // Both attempts end unfinished: the first cut by its target, the second by the proxy at the timeout.
    await until(() => a.aborted + b.aborted === 2);
    // Time enough for the attempts an uncancelled call would still make.
    await new Promise((r) => setTimeout(r, 600));
    expect(a.hits + b.hits).toBe(2);
  });

  it('aborts the attempt when the client goes away, and does not retry it', async () => {
    a.behaviour = b.behaviour = () => {};
    await proxy.applyRoutes(config({ timeoutMs: 5000, retries: 2 }));
    const gone = new AbortController();
    const pending = request(`${base}/api/hang`, { signal: gone.signal }).catch((e: Error) => e);
    await until(() => a.hits + b.hits === 1);
    gone.abort();
    expect(await pending).toBeInstanceOf(Error);
    await until(() => a.aborted + b.aborted === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(a.hits + b.hits).toBe(1);
  });

  it('interrupts an endpoint running in the embedded host when the route timeout passes', async () => {
    const host = new WasmHost({ id: 'embedded', tier: 'in-process', exec: 'worker' });
    const embedded = new SidecarProxy({ id: 'embedded', host });
    const url = `http://127.0.0.1:${(await embedded.listen(0, '127.0.0.1')).port}`;
    try {
      const digest = host.modules.put(fixtureModule('loop'));
      await embedded.applyRoutes({
        version: 1,
        routes: [{ match: 'GET /spin', endpoint: 'spin', timeoutMs: 300, retries: 2 }],
        endpoints: { spin: { digest, targets: [{ kind: 'local', weight: 1 }] } },
      });
      const res = await request(`${url}/spin`);
      expect(res.statusCode).toBe(504);
      await res.body.dump();
      const usage = () => host.stats().find((e) => e.endpoint === 'spin')!.usage;
      // Stopped by the call's cancellation, not by its own (2 s) deadline, and never tried again.
      await until(() => usage().cancelled === 1);
      expect(usage().invocations).toBe(1);
      expect(usage().timeouts).toBe(0);
    } finally {
      await embedded.drain(100);
    }
  });

  it('sends an Expect: 100-continue upload to a host target whole, without counting it as a failure', async () => {
    let got = '';
    a.behaviour = (req, res) => {
      got = String(req.headers.expect ?? '');
      res.end('stored');
    };
    await proxy.applyRoutes(config({ retries: 0 }, () => [a.url]));
    const target = proxy.targets.get(`host:${a.url}`);
    const ejections = target.ejections;
    for (let i = 0; i < 6; i++) {
      const socket = net.connect(Number(new URL(base).port), '127.0.0.1');
      await once(socket, 'connect');
      socket.write(
        'PUT /api/blob HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\nconnection: close\r\n\r\n',
      );
      const [first] = (await once(socket, 'data')) as [Buffer];
      expect(first.toString()).toMatch(/^HTTP\/1\.1 100 Continue/);
      socket.write('12345');
      let out = '';
      socket.on('data', (d) => {
        out += d;
      });
      await once(socket, 'close');
      expect(out).toMatch(/^HTTP\/1\.1 200 /);
      expect(out.endsWith('stored')).toBe(true);
    }
    expect(got).toBe('');
    expect(target.ejections).toBe(ejections);
    expect(target.consecutiveFailures).toBe(0);
  });
});
