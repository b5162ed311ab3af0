// The control plane's admin API over HTTP, or HTTPS with the control plane's certificate (--admin-tls)
// (docs/control-plane.md), which the `roam` CLI uses. Every route but /healthz requires the admin token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { BadRequestError, InvalidArgumentError, NotFoundError, UnauthorizedError } from '../core/errors.ts';
import { closeServer, listenOn, readBody, sendError, sendJson } from '../core/http.ts';
import { checkCallerPolicy } from '../core/mesh-authz.ts';
import type { RouteSpec } from '../proxy/index.ts';
import { bearer, verifyAdminToken } from './auth.ts';
import type { ControlPlane } from './control-plane.ts';
import { Dashboard } from './dashboard.ts';
import type { ServingCertificate } from './issuance.ts';
import type { ShiftPolicy } from './migration.ts';
import type { PlacementLoop } from './placement-loop.ts';
import type { EndpointPolicy } from './state.ts';

const MAX_MODULE = 64 * 1024 * 1024;

async function json(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req, 1024 * 1024);
  try {
    const v = JSON.parse(Buffer.from(body).toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new BadRequestError('request body must be a JSON object');
  }
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '')
    throw new InvalidArgumentError(`"${key}" must be a non-empty string`);
  return v;
}

/** An endpoint policy from JSON, each field checked so a typo is refused rather than ignored. */
function policyOf(v: unknown): EndpointPolicy {
  const shape = '{pinnedTier?, forbiddenTiers?, requires?, maxReplicas?, manual?, callers?}';
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InvalidArgumentError(`"policy" must be an object: ${shape}`);
  const p = v as Record<string, unknown>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string' && s !== '');
  for (const key of Object.keys(p)) {
    const x = p[key];
    if (key === 'callers') {
      checkCallerPolicy(x, '"policy.callers"');
      continue;
    }
    const ok =
      key === 'pinnedTier'
        ? typeof x === 'string' && x !== ''
        : key === 'forbiddenTiers' || key === 'requires'
          ? strings(x)
          : key === 'maxReplicas'
            ? Number.isInteger(x) && (x as number) >= 1
            : key === 'manual'
              ? typeof x === 'boolean'
              : false;
    if (!ok) throw new InvalidArgumentError(`"policy.${key}" is not valid; policy is ${shape}`);
  }
  return p as EndpointPolicy;
}

/** `{"steps": [0.1, 0.5, 1], "holdMs": 200}`: how a migration shifts traffic; absent, the default. */
function shiftPolicy(v: unknown): ShiftPolicy | undefined {
  if (v === undefined) return undefined;
  const o = v as { steps?: unknown; holdMs?: unknown };
  const steps = o?.steps;
  if (
    !Array.isArray(steps) ||
    steps.length === 0 ||
    steps.some((x, i) => typeof x !== 'number' || !(x > 0 && x <= 1) || (i > 0 && x <= steps[i - 1])) ||
    steps[steps.length - 1] !== 1
  ) {
    throw new InvalidArgumentError('"shift.steps" must be increasing fractions in (0, 1] ending with 1');
  }
  const holdMs = o.holdMs === undefined ? 0 : Number(o.holdMs);
  if (!Number.isFinite(holdMs) || holdMs < 0) throw new InvalidArgumentError('"shift.holdMs" must be >= 0');
  return { steps: steps as number[], holdMs };
}

const PROFILES_PREFIX = '/api/profiles/';

/** The endpoint named in /api/profiles/NAME (legacy route templates arrive percent-encoded: "%2Forders"). */
function endpointParam(pathname: string): string {
  try {
    return decodeURIComponent(pathname.slice(PROFILES_PREFIX.length));
  } catch {
    throw new BadRequestError(`"${pathname}" is not a valid percent-encoded endpoint name`);
  }
}

export class AdminApi {
  private readonly server: Server;
  private readonly dashboard: Dashboard;

  /**
   * `forward`: on a follower replica, passes a write to the leader and answers true (replica.ts). `tls`: serve
   * HTTPS with this certificate, swapped in for new connections as it renews.
   */
  constructor(
    cp: ControlPlane,
    loop?: PlacementLoop,
    forward?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>,
    metrics?: (req: IncomingMessage, res: ServerResponse) => void,
    tls?: ServingCertificate,
  ) {
    this.dashboard = new Dashboard(cp);
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      try {
        const url = new URL(req.url ?? '/', 'http://control-plane');
        const method = req.method ?? 'GET';
        if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
        // Prometheus scrapes without a token, as it does the proxies' and hosts' admin listeners.
        if (url.pathname === '/metrics' && metrics) return metrics(req, res);
        if (url.pathname === '/readyz') return sendJson(res, 200, { status: 'ready', leader: cp.isLeader() });
        if (method !== 'GET' && forward && (await forward(req, res))) return;
        // The dashboard's routes take the admin token's cookie as well (dashboard.ts); every other, the bearer.
        if (this.dashboard.handle(req, res, url)) return;
        if (!verifyAdminToken(cp.state.secret(), bearer(req.headers.authorization))) {
          throw new UnauthorizedError('missing or wrong admin token');
        }
        const route = `${method} ${url.pathname}`;
        switch (route) {
          case 'POST /api/modules': {
            const digest = cp.uploadModule(await readBody(req, MAX_MODULE));
            await cp.state.modules.load(digest).catch((err) => {
              cp.state.modules.remove(digest);
              throw err;
            });
            return sendJson(res, 201, { digest });
          }
          case 'POST /api/deploy': {
            const body = await json(req);
            const routes = body.routes === undefined ? undefined : (body.routes as RouteSpec[]);
            if (routes !== undefined && !Array.isArray(routes))
              throw new InvalidArgumentError('"routes" must be a list');
            const policy = body.policy === undefined ? undefined : policyOf(body.policy);
            if (body.takeRoute !== undefined && typeof body.takeRoute !== 'boolean')
              throw new InvalidArgumentError('"takeRoute" must be true or false');
            const result = cp.deploy(str(body, 'endpoint'), str(body, 'digest'), routes, policy, {
              takeRoute: body.takeRoute === true,
            });
            return sendJson(res, 200, {
              endpoint: body.endpoint,
              ...result,
              placement: cp.placementOf(body.endpoint as string),
            });
          }
          case 'POST /api/rollback': {
            const body = await json(req);
            const to = body.to === undefined ? undefined : Number(body.to);
            if (to !== undefined && !Number.isInteger(to))
              throw new InvalidArgumentError('"to" must be a version number');
            return sendJson(res, 200, { endpoint: body.endpoint, ...cp.rollback(str(body, 'endpoint'), to) });
          }
          case 'POST /api/migrate': {
            const body = await json(req);
            const to = Array.isArray(body.to) ? (body.to as unknown[]) : [str(body, 'to')];
            if (!to.every((h): h is string => typeof h === 'string' && h !== ''))
              throw new InvalidArgumentError('"to" must be a host id or a list of host ids');
            if (body.force !== undefined && typeof body.force !== 'boolean')
              throw new InvalidArgumentError('"force" must be true or false');
            const pinForMs = body.pinForMs;
            if (pinForMs !== undefined && !(Number.isSafeInteger(pinForMs) && (pinForMs as number) > 0))
              throw new InvalidArgumentError('"pinForMs" must be a positive whole number of milliseconds');
            const shift = shiftPolicy(body.shift);
            const m = cp.migrate(str(body, 'endpoint'), to, {
              ...(shift ? { shift } : {}),
              ...(body.force === true ? { force: true } : {}),
              ...(pinForMs !== undefined ? { pinForMs: pinForMs as number } : {}),
            });
            return sendJson(res, 202, {
              endpoint: body.endpoint,
              placement: to,
              migration: m,
              pin: cp.pins.of(body.endpoint as string) ?? null,
            });
          }
          case 'GET /api/plan':
            if (!loop) throw new NotFoundError('the placement loop is not running on this control plane');
            return sendJson(res, 200, await loop.plan());
          case 'GET /api/decisions':
            return sendJson(res, 200, {
              decisions: cp.state.decisions(url.searchParams.get('endpoint') ?? undefined),
            });
          case 'GET /api/loop':
            if (!loop) throw new NotFoundError('the placement loop is not running on this control plane');
            return sendJson(res, 200, { paused: loop.paused(), pins: cp.pins.all(), options: loop.options });
          case 'POST /api/loop': {
            if (!loop) throw new NotFoundError('the placement loop is not running on this control plane');
            const body = await json(req);
            const endpoint = body.endpoint === undefined ? undefined : str(body, 'endpoint');
            if (endpoint !== undefined && !cp.state.endpoint(endpoint))
              throw new NotFoundError(`endpoint "${endpoint}" does not exist`, { endpoint });
            if (body.action === 'pause') loop.pause(endpoint);
            else if (body.action === 'resume') loop.resume(endpoint);
            else if (body.action === 'run') await loop.trigger('manual');
            else throw new InvalidArgumentError('"action" must be pause, resume or run');
            return sendJson(res, 200, { paused: loop.paused(), pins: cp.pins.all() });
          }
          case 'GET /api/migrations':
            return sendJson(res, 200, {
              active: cp.migrations.list(),
              recent: cp.state.migrations({ active: false, limit: 50 }),
            });
          case 'GET /api/status':
            return sendJson(res, 200, { nodes: cp.status() });
          case 'GET /api/endpoints': {
            const pins = cp.pins.all();
            return sendJson(res, 200, {
              endpoints: cp.state.endpoints().map((e) => ({
                ...e,
                versions: cp.state.versions(e.name),
                placement: cp.placementOf(e.name),
                pin: pins[e.name] ?? null,
              })),
            });
          }
          case 'GET /api/hosts':
            return sendJson(res, 200, { nodes: cp.state.nodes() });
          case 'GET /api/history':
            return sendJson(res, 200, {
              history: cp.state.history(url.searchParams.get('endpoint') ?? undefined),
            });
          case 'GET /api/profiles':
            return sendJson(res, 200, {
              profiles: cp.profiles.profiles(),
              distances: cp.profiles.distances(),
            });
          default:
            if (method === 'GET' && url.pathname.startsWith(PROFILES_PREFIX)) {
              return sendJson(res, 200, { profile: cp.profiles.profile(endpointParam(url.pathname)) });
            }
            throw new NotFoundError(`no admin route ${route}`);
        }
      } catch (err) {
        sendError(res, err);
      }
    };
    if (tls) {
      const https = createHttpsServer({ key: tls.keyPem, cert: tls.certPem }, handle);
      tls.onRenew(() => https.setSecureContext({ key: tls.keyPem, cert: tls.certPem }));
      this.server = https;
    } else {
      this.server = createServer(handle);
    }
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    this.dashboard.close();
    return closeServer(this.server, false);
  }
}
