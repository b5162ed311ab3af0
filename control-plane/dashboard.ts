// The dashboard (docs/control-plane.md#dashboard): the page's static files under /dashboard, and /api/events, a
// server-sent event stream of the whole mesh's state. A browser cannot put a bearer header on an EventSource,
// so the admin token is accepted once as ?token= and traded for an HttpOnly cookie that these routes alone read.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { NotFoundError, UnauthorizedError } from '../core/errors.ts';
import { filePath } from '../core/paths.ts';
import { bearer, verifyAdminToken } from './auth.ts';
import type { ControlPlane } from './control-plane.ts';
import type { MigrationRecord } from './migration.ts';
import type { Decision } from './placement-loop.ts';

export interface DashboardOptions {
  /** How often rates and latencies are re-read; the state is sent when it differs from the last sent. */
  tickMs: number;
  /** Changes within this window (a migration step, ACKs from every node) go out as one update. */
  coalesceMs: number;
  /** A comment line this often keeps an idle stream from being timed out by the browser or a proxy. */
  heartbeatMs: number;
}

const DEFAULTS: DashboardOptions = { tickMs: 1000, coalesceMs: 50, heartbeatMs: 15_000 };

const COOKIE = 'roam_dashboard';
const STATIC_DIR = pathToFileURL(filePath('control-plane/dashboard/'));
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
const HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

/** Everything the page shows, in one JSON document: sent whole on connect and on every change. */
export function dashboardState(cp: ControlPlane) {
  const decisions = cp.state.decisions<Decision>(undefined, 30);
  const byMigration = new Map(decisions.filter((d) => d.migration).map((d) => [d.migration, d]));
  const migration = (m: MigrationRecord) => {
    const d = byMigration.get(m.id);
    return {
      id: m.id,
      endpoint: m.endpoint,
      reason: m.reason,
      from: m.from.hosts,
      to: m.to.hosts,
      step: m.step,
      steps: m.steps,
      shift: m.step === 'shift' ? (m.shift.steps[m.shiftIndex] ?? null) : null,
      startedAt: m.startedAt,
      timings: m.timings,
      outcome: m.outcome ?? null,
      why: m.why ?? null,
      predictedGain: d?.predictedGain ?? null,
      measuredGainMs: d?.measuredGainMs ?? null,
    };
  };
  const profiles = new Map(cp.profiles.profiles().map((p) => [p.endpoint, p]));
  const traffic = (name: string) => {
    const p = profiles.get(name);
    if (!p) return null;
    return {
      requestsPerSecond: p.requestsPerSecond,
      errorRate: p.errorRate,
      p50Ms: p.latencyMs.p50,
      p99Ms: p.latencyMs.p99,
      hosts: p.hosts.map((h) => ({
        host: h.host,
        tier: h.tier,
        invocationsPerSecond: h.invocationsPerSecond,
        p50Ms: h.latencyMs.p50,
        p99Ms: h.latencyMs.p99,
      })),
    };
  };
  const endpoints = cp.state.endpoints();
  const known = new Set(endpoints.map((e) => e.name));
  return {
    nodes: cp.status().map((n) => ({
      id: n.id,
      kind: n.kind,
      tier: n.tier,
      site: n.location,
      status: n.status,
      connected: n.connected,
      inSync: n.inSync,
      inFlight: n.load?.inFlight ?? null,
      ready: n.ready,
    })),
    endpoints: [
      ...endpoints.map((e) => ({
        name: e.name,
        legacy: false,
        version: e.version,
        digest: e.digest,
        routes: e.routes.map((r) => r.match),
        placement: cp.placementOf(e.name),
        traffic: traffic(e.name),
      })),
      // Routes still served by the legacy service: measured by the proxies, placed nowhere yet.
      ...[...profiles.values()]
        .filter((p) => p.legacy && !known.has(p.endpoint))
        .map((p) => ({
          name: p.endpoint,
          legacy: true,
          version: 0,
          digest: '',
          routes: [],
          placement: [],
          traffic: traffic(p.endpoint),
        })),
    ],
    migrations: {
      active: cp.migrations.list().map(migration),
      recent: cp.state.migrations<MigrationRecord>({ active: false, limit: 20 }).map(migration),
    },
    decisions: decisions.map((d) => ({
      id: d.id,
      endpoint: d.endpoint,
      at: d.at,
      trigger: d.trigger,
      from: d.from.hosts,
      to: d.to.hosts,
      predictedGain: d.predictedGain,
      status: d.status,
      why: d.why ?? null,
      latencyBeforeMs: d.latencyBeforeMs ?? null,
      latencyAfterMs: d.latencyAfterMs ?? null,
      measuredGainMs: d.measuredGainMs ?? null,
    })),
  };
}

/**
 * One event-stream client. Every message is a full state, so a client that does not keep up loses nothing by
 * skipping: while its socket buffer is over the high-water mark only the newest message is held, and it is
 * written once the buffer drains. Memory per client stays bounded however slow the reader.
 */
export class SseClient {
  private readonly out: Writable;
  private pending: string | undefined;

  constructor(out: Writable) {
    this.out = out;
  }

  send(message: string): void {
    if (this.out.writableNeedDrain) {
      if (this.pending === undefined) this.out.once('drain', () => this.flushPending());
      this.pending = message;
      return;
    }
    this.out.write(message);
  }

  private flushPending(): void {
    const message = this.pending;
    this.pending = undefined;
    if (message !== undefined && !this.out.destroyed) this.send(message);
  }

  /** A comment line, when the buffer has room: a stalled client needs no heartbeat, only the newest state. */
  heartbeat(): void {
    if (!this.out.writableNeedDrain) this.out.write(': heartbeat\n\n');
  }

  end(): void {
    this.out.end();
  }
}

/** The cookie's value: derived from the secret, so it proves the admin token was shown but is not the token. */
function sessionValue(secret: string): string {
  return createHmac('sha256', secret).update('dashboard-session').digest('base64url');
}

function cookieOf(req: IncomingMessage, name: string): string {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return '';
}

function message(state: string): string {
  return `event: state\ndata: ${state}\n\n`;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Dashboard {
  private readonly cp: ControlPlane;
  private readonly options: DashboardOptions;
  /** The page's files, read once: name -> [content type, bytes]. */
  private readonly files = new Map<string, [string, Buffer]>();
  private readonly clients = new Set<SseClient>();
  private last = '';
  private flushTimer: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopWatching: (() => void) | undefined;

  constructor(cp: ControlPlane, options: Partial<DashboardOptions> = {}) {
    this.cp = cp;
    this.options = { ...DEFAULTS, ...options };
    for (const name of readdirSync(STATIC_DIR)) {
      const type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
      if (type) this.files.set(name, [type, readFileSync(new URL(name, STATIC_DIR))]);
    }
  }

  /** Open event streams (for tests and status). */
  get connections(): number {
    return this.clients.size;
  }

  /** Serves the request and answers true if it is one of the dashboard's routes; false leaves it to the caller. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (req.method !== 'GET') return false;
    const path = url.pathname;
    // Browsers ask for an icon at the root on their own, with no token: no icon, rather than a 401 in the
    // console (the page also declares none, so most never ask).
    if (path === '/favicon.ico') {
      res.writeHead(204, { 'cache-control': 'max-age=86400' });
      res.end();
      return true;
    }
    if (path !== '/dashboard' && !path.startsWith('/dashboard/') && path !== '/api/events') return false;
    const secret = this.cp.state.secret();
    const token = url.searchParams.get('token');
    if (path === '/dashboard' && token !== null) {
      if (!verifyAdminToken(secret, token))
        throw new UnauthorizedError(
          'the token in /dashboard?token= is not the admin token (see `roam token`)',
        );
      // Trade the token for the cookie, and drop it from the address bar, the history and any Referer.
      res.writeHead(303, {
        location: '/dashboard',
        'set-cookie': `${COOKIE}=${sessionValue(secret)}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
      });
      res.end();
      return true;
    }
    const authorized =
      same(cookieOf(req, COOKIE), sessionValue(secret)) ||
      verifyAdminToken(secret, bearer(req.headers.authorization));
    if (!authorized) {
      throw new UnauthorizedError(
        path === '/dashboard'
          ? 'the dashboard needs the admin token: open /dashboard?token=ADMIN_TOKEN once (`roam token` prints it)'
          : 'missing or wrong dashboard cookie or admin token: open /dashboard?token=ADMIN_TOKEN first',
      );
    }
    if (path === '/api/events') this.attach(req, res);
    else this.serveFile(res, path === '/dashboard' || path === '/dashboard/' ? 'index.html' : path.slice(11));
    return true;
  }

  /** Ends every stream and stops watching the control plane. */
  close(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.stop();
  }

  private serveFile(res: ServerResponse, name: string): void {
    const file = this.files.get(name);
    if (!file) throw new NotFoundError(`the dashboard has no file "${name}"`);
    res.writeHead(200, { 'content-type': file[0], 'content-length': file[1].length, ...HEADERS });
    res.end(file[1]);
  }

  private attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    // After a dropped connection the browser reconnects on its own after this many ms.
    res.write('retry: 2000\n\n');
    const client = new SseClient(res);
    this.clients.add(client);
    req.socket.setNoDelay(true);
    res.on('close', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    });
    if (this.clients.size === 1) this.start();
    client.send(message(this.snapshot()));
  }

  private snapshot(): string {
    return JSON.stringify(dashboardState(this.cp));
  }

  /** Watches the control plane while someone is looking. */
  private start(): void {
    const offStep = this.cp.onMigrationStep(() => this.schedule());
    let watching = true;
    const watch = async () => {
      while (watching) {
        await this.cp.changed();
        if (watching) this.schedule();
      }
    };
    void watch();
    this.stopWatching = () => {
      offStep();
      watching = false;
    };
    const tick = setInterval(() => this.schedule(), this.options.tickMs);
    const heartbeat = setInterval(() => {
      for (const c of this.clients) c.heartbeat();
    }, this.options.heartbeatMs);
    this.timers = [tick, heartbeat];
    for (const t of this.timers) t.unref();
  }

  private stop(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.last = '';
  }

  /** Gathers changes: the first one arms a short timer, later ones ride along, then one snapshot goes out. */
  private schedule(): void {
    if (this.flushTimer || this.clients.size === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      const state = this.snapshot();
      if (state === this.last) return;
      this.last = state;
      const m = message(state);
      for (const c of this.clients) c.send(m);
    }, this.options.coalesceMs);
    this.flushTimer.unref();
  }
}
