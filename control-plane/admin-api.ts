// The control plane's admin API over HTTP (docs/control-plane.md), which the `roam` CLI uses. Every route but
// /healthz requires the admin token.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequestError, InvalidArgumentError, NotFoundError, UnauthorizedError } from '../core/errors.ts';
import { closeServer, listenOn, readBody, sendError, sendJson } from '../core/http.ts';
import type { RouteSpec } from '../proxy/index.ts';
import { bearer, verifyAdminToken } from './auth.ts';
import type { ControlPlane } from './control-plane.ts';
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

export class AdminApi {
  private readonly server: Server;

  constructor(cp: ControlPlane) {
    this.server = createServer(async (req, res) => {
      try {
        const url = new URL(req.url ?? '/', 'http://control-plane');
        const method = req.method ?? 'GET';
        if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
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
            const policy = body.policy === undefined ? undefined : (body.policy as EndpointPolicy);
            if (policy !== undefined && (typeof policy !== 'object' || policy === null)) {
              throw new InvalidArgumentError(
                '"policy" must be an object: {pinnedTier?, forbiddenTiers?, requires?}',
              );
            }
            const result = cp.deploy(str(body, 'endpoint'), str(body, 'digest'), routes, policy);
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
            const to = Array.isArray(body.to) ? (body.to as string[]) : [str(body, 'to')];
            cp.migrate(str(body, 'endpoint'), to);
            return sendJson(res, 200, { endpoint: body.endpoint, placement: to });
          }
          case 'GET /api/status':
            return sendJson(res, 200, { nodes: cp.status() });
          case 'GET /api/endpoints':
            return sendJson(res, 200, {
              endpoints: cp.state.endpoints().map((e) => ({
                ...e,
                versions: cp.state.versions(e.name),
                placement: cp.placementOf(e.name),
              })),
            });
          case 'GET /api/hosts':
            return sendJson(res, 200, { nodes: cp.state.nodes() });
          case 'GET /api/history':
            return sendJson(res, 200, {
              history: cp.state.history(url.searchParams.get('endpoint') ?? undefined),
            });
          default:
            throw new NotFoundError(`no admin route ${route}`);
        }
      } catch (err) {
        sendError(res, err);
      }
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    return closeServer(this.server, false);
  }
}
