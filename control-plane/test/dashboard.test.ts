// The dashboard: its event stream in process (one update per burst of changes, bounded memory for a reader
// that stalls, cleanup on disconnect), its cookie auth against the real control plane, and the page itself in
// Debian's chromium, following a live migration without a reload (screenshot: build/artifacts/dashboard.png).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listenOn, sendError } from '../../core/http.ts';
import { endpointModule } from '../../test/support/modules.ts';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import { needs } from '../../test/support/system.ts';
import { adminToken as adminTokenOf, nodeToken } from '../auth.ts';
import { ControlPlane } from '../control-plane.ts';
import { Dashboard, SseClient } from '../dashboard.ts';
import { State } from '../state.ts';

const CHROMIUM = '/usr/bin/chromium';

// biome-ignore lint/suspicious/noExplicitAny: the test reads the dashboard's JSON loosely, field by field.
type Json = Record<string, any>;

async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Reads `state` events off an event-stream body as they arrive. */
function stateEvents(body: Dispatcher.ResponseData['body']) {
  const events: Json[] = [];
  let buffer = '';
  body.setEncoding('utf8');
  body.on('data', (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (block.startsWith('event: state') && data) events.push(JSON.parse(data.slice(6)));
    }
  });
  body.on('error', () => {});
  return events;
}

describe('the event stream', () => {
  const dir = mkdtempSync(join(tmpdir(), 'roam-dashboard-unit-'));
  let cp: ControlPlane;
  let dashboard: Dashboard;
  let server: Server;
  let url = '';
  let token = '';

  beforeAll(async () => {
    cp = new ControlPlane({ dataDir: dir });
    token = adminTokenOf(cp.state.secret());
    // Only changes trigger updates here (the periodic re-read is out of the way), gathered over a wide window.
    dashboard = new Dashboard(cp, { tickMs: 3_600_000, coalesceMs: 1500 });
    server = createServer((req, res) => {
      try {
        if (!dashboard.handle(req, res, new URL(req.url ?? '/', 'http://x'))) res.writeHead(404).end();
      } catch (err) {
        sendError(res, err);
      }
    });
    const at: AddressInfo = await listenOn(server, 0, '127.0.0.1');
    url = `http://127.0.0.1:${at.port}`;
  });

  afterAll(async () => {
    dashboard.close();
    await closeServer(server, false);
    cp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the state on connect, one update for a burst of changes, and forgets a client that leaves', async () => {
    const abort = new AbortController();
    const res = await request(`${url}/api/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = stateEvents(res.body);
    await until('the first state', () => events.length === 1);
    expect(events[0]!.nodes).toEqual([]);
    expect(dashboard.connections).toBe(1);

    // Twenty nodes subscribe and ACK, each in its own turn of the event loop: every ACK is a change.
    for (let i = 0; i < 20; i++) {
      const id = `n${i}`;
      cp.subscribe(
        {
          nodeId: id,
          kind: 'host',
          tier: 'edge',
          location: `site-${i}`,
          address: '127.0.0.1:1',
          cpuMillis: 1000,
          memoryMib: 256,
          capabilities: [],
          stores: [],
          appliedVersion: 0,
        },
        { send() {}, sentVersion: -1 },
      );
      cp.ack(id, 1, []);
      await new Promise((r) => setImmediate(r));
    }
    await until('an update', () => events.length === 2);
    expect(events[1]!.nodes).toHaveLength(20);

    abort.abort();
    await until('the stream to be dropped', () => dashboard.connections === 0);
  });

  it('holds only the newest state for a reader that stops reading', async () => {
    const written: string[] = [];
    const acks: (() => void)[] = [];
    // A socket whose peer has stopped reading: writes are accepted into the buffer but never complete.
    const out = new Writable({
      highWaterMark: 1024,
      write(chunk, _enc, done) {
        written.push(String(chunk));
        acks.push(done);
      },
    });
    const client = new SseClient(out);
    const states = Array.from({ length: 100 }, (_, i) => `${i}:${'x'.repeat(500)}`);
    for (const s of states) {
      client.send(s);
      expect(out.writableLength).toBeLessThanOrEqual(1024 + 512);
    }
    client.heartbeat();
    // The reader catches up: what it gets next is the newest state, with nothing in between.
    while (acks.length > 0 || out.writableLength > 0) {
      acks.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(written.map((w) => Number(w.split(':')[0]))).toEqual([0, 1, 2, 99]);
  });
});

describe.runIf(needs('chromium', existsSync(CHROMIUM), 'apt-get install chromium'))(
  'the dashboard in a browser',
  () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'roam-dashboard-'));
    const profileDir = mkdtempSync(join(tmpdir(), 'roam-chromium-'));
    let cp: RoamProcess;
    let proxy: RoamProcess;
    let adminToken = '';
    let context: BrowserContext;
    let page: Page;
    let traffic = true;
    let load: Promise<void> = Promise.resolve();

    async function admin(method: 'GET' | 'POST', path: string, body?: unknown) {
      const res = await request(`${cp.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}` },
        body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
      });
      return { status: res.statusCode, json: (await res.body.json()) as Json };
    }

    async function migrationDone(id: number): Promise<void> {
      await until(`migration ${id} to finish`, async () =>
        (await admin('GET', '/api/migrations')).json.recent.some(
          (m: Json) => m.id === id && m.outcome === 'done',
        ),
      );
    }

    beforeAll(async () => {
      cp = await startRoam([
        'control-plane',
        ...['--grpc', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--data-dir', dataDir],
        ...['--placement-loop', 'off'],
      ]);
      adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
      const state = new State(dataDir);
      const secret = state.secret();
      state.close();
      const grpc = cp.info.grpc as string;
      const node = (kind: string, id: string, ...flags: string[]) =>
        startRoam([kind, '--id', id, '--listen', '127.0.0.1:0', '--control-plane', grpc, ...flags], {
          ROAM_NODE_TOKEN: nodeToken(secret, id),
          ROAM_CA: join(dataDir, 'ca.pem'),
        });
      await Promise.all([
        node('host', 'c1', '--tier', 'cluster', '--location', 'site-cluster'),
        node('host', 'e1', '--tier', 'edge', '--location', 'site-edge'),
        node('host', 'd1', '--tier', 'device', '--location', 'site-device'),
      ]);
      proxy = await node('proxy', 'p1', '--location', 'site-entry', '--admin', '127.0.0.1:0');
      await until(
        'four nodes to subscribe',
        async () => (await admin('GET', '/api/status')).json.nodes.length === 4,
      );
      const up = await admin('POST', '/api/modules', endpointModule('hello'));
      const dep = await admin('POST', '/api/deploy', {
        endpoint: 'hello',
        digest: up.json.digest,
        routes: [{ match: 'GET /hello' }],
      });
      expect(dep.status, JSON.stringify(dep.json)).toBe(200);
      expect(dep.json.placement).toEqual(['c1']);
      // A trickle of requests, so the page has rates and latencies to show.
      load = (async () => {
        while (traffic) {
          await request(`${proxy.url}/hello?name=dashboard`)
            .then((r) => r.body.dump())
            .catch(() => {});
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      context = await chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
        viewport: { width: 1360, height: 900 },
      });
      page = context.pages()[0] ?? (await context.newPage());
    }, 90_000);

    afterAll(async () => {
      traffic = false;
      await load;
      await context?.close();
      await stopAll();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(profileDir, { recursive: true, force: true });
    });

    it('refuses a request without the token or with a bad cookie, saying what to do', async () => {
      const bare = await request(`${cp.url}/dashboard`);
      expect(bare.statusCode).toBe(401);
      expect(((await bare.body.json()) as Json).message).toMatch(/dashboard\?token=/);
      const wrong = await request(`${cp.url}/dashboard?token=nope`);
      expect(wrong.statusCode).toBe(401);
      expect(((await wrong.body.json()) as Json).message).toMatch(/not the admin token/);
      const badCookie = await request(`${cp.url}/api/events`, {
        headers: { cookie: 'roam_dashboard=forged' },
      });
      expect(badCookie.statusCode).toBe(401);
      expect(((await badCookie.body.json()) as Json).error).toBe('ROAM_ERR_UNAUTHORIZED');

      const login = await request(`${cp.url}/dashboard?token=${adminToken}`);
      await login.body.dump();
      expect([login.statusCode, login.headers.location]).toEqual([303, '/dashboard']);
      const cookie = String(login.headers['set-cookie']);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      const session = cookie.split(';')[0]!;
      expect(session).not.toContain(adminToken);
      const script = await request(`${cp.url}/dashboard/app.js`, { headers: { cookie: session } });
      expect([script.statusCode, script.headers['content-type']]).toEqual([
        200,
        'text/javascript; charset=utf-8',
      ]);
      await script.body.dump();
      const missing = await request(`${cp.url}/dashboard/nope.js`, { headers: { cookie: session } });
      expect(missing.statusCode).toBe(404);
      await missing.body.dump();
      // The icon a browser asks for on its own, without a token, is no error either (issue 18).
      const icon = await request(`${cp.url}/favicon.ico`);
      expect(icon.statusCode).toBe(204);
      await icon.body.dump();
      // The cookie opens the dashboard's routes only: the rest of the admin API still wants the bearer token.
      const status = await request(`${cp.url}/api/status`, { headers: { cookie: session } });
      expect(status.statusCode).toBe(401);
      await status.body.dump();
    });

    it('shows hosts by tier and placements, and follows a migration live', async () => {
      // Every request the page makes is answered: no 401 for a favicon in the browser's console (issue 18).
      const refused: string[] = [];
      page.on('response', (r) => {
        if (r.status() >= 400) refused.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(`${cp.url}/dashboard?token=${adminToken}`);
      expect(new URL(page.url()).search).toBe('');
      const text = (selector: string) => page.locator(selector).innerText();
      // Locators, not page functions: the page's Content-Security-Policy forbids evaluating strings.
      const cell = (field: string, hasText: RegExp) =>
        page.locator(`[data-endpoint="hello"] [data-field="${field}"]`, { hasText });
      await page.locator('[data-endpoint="hello"] [data-field="placement"]').waitFor();
      for (const [tier, id] of [
        ['in-process', 'p1'],
        ['cluster', 'c1'],
        ['edge', 'e1'],
        ['device', 'd1'],
      ]) {
        expect(await text(`[data-tier="${tier}"] [data-node="${id}"] strong`)).toBe(id);
      }
      expect(await text('[data-endpoint="hello"] [data-field="placement"]')).toBe('c1');
      expect(await text('[data-endpoint="hello"] [data-field="version"]')).toMatch(/^v1/);

      // A mark on this document: it is still there at the end only if the page never reloaded.
      await page.evaluate('window.loadedOnce = true');
      const moved = await admin('POST', '/api/migrate', { endpoint: 'hello', to: 'e1' });
      expect(moved.status).toBe(202);
      const id = moved.json.migration.id as number;
      expect(refused).toEqual([]);
      await page.locator(`[data-migration="${id}"][data-outcome="done"]`).waitFor({ timeout: 30_000 });
      await cell('placement', /^e1$/).waitFor({ timeout: 10_000 });
      await migrationDone(id);
      expect(await page.evaluate('window.loadedOnce')).toBe(true);
      expect(await text(`[data-migration="${id}"] header`)).toMatch(/c1\s*→\s*e1/);
      expect(await text(`[data-migration="${id}"] .steps`)).toMatch(/prepare[\s\S]*done/);
      await cell('rate', /\/s$/).waitFor({ timeout: 20_000 });
      expect(await text('#connection')).toMatch(/^live/);

      mkdirSync(new URL('../../build/artifacts/', import.meta.url), { recursive: true });
      await page.screenshot({
        path: new URL('../../build/artifacts/dashboard.png', import.meta.url).pathname,
        fullPage: true,
      });
    }, 60_000);
  },
);
