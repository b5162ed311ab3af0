// A minimal stand-in for the API server's Lease endpoints (coordination.k8s.io/v1), for tests only: there is no
// API server here. It does what the election relies on and nothing more: HTTPS, a bearer token, GET/POST/PUT
// on leases in one namespace, resourceVersion checks that answer 409 on a stale write, 404 for a missing Lease.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { closeServer, listenOn, readBody, sendJson } from '../../core/http.ts';
import type { TestCert } from './tls.ts';

// biome-ignore lint/suspicious/noExplicitAny: the fake stores Lease objects as the client sent them.
type Lease = any;

export interface FakeLeaseApi {
  url: string;
  leases: Map<string, Lease>;
  close(): Promise<void>;
}

function status(code: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message };
}

export async function startFakeLeaseApi(
  cert: TestCert,
  namespace: string,
  token: string,
): Promise<FakeLeaseApi> {
  const leases = new Map<string, Lease>();
  let version = 0;
  const base = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const server: Server = createServer(
    { cert: cert.cert, key: readFileSync(cert.keyFile) },
    async (req, res) => {
      if (req.headers.authorization !== `Bearer ${token}`)
        return sendJson(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      const url = new URL(req.url ?? '/', 'https://api');
      const body =
        req.method === 'GET'
          ? undefined
          : (JSON.parse(Buffer.from(await readBody(req, 1 << 20)).toString()) as Lease);
      if (req.method === 'POST' && url.pathname === base) {
        const name = body.metadata.name as string;
        if (leases.has(name))
          return sendJson(res, 409, status(409, 'AlreadyExists', `leases "${name}" already exists`));
        const lease = {
          ...body,
          metadata: { ...body.metadata, namespace, resourceVersion: String(++version) },
        };
        leases.set(name, lease);
        return sendJson(res, 201, lease);
      }
      const name = url.pathname.startsWith(`${base}/`)
        ? decodeURIComponent(url.pathname.slice(base.length + 1))
        : '';
      const current = leases.get(name);
      if (!name) return sendJson(res, 404, status(404, 'NotFound', 'not found'));
      if (!current) return sendJson(res, 404, status(404, 'NotFound', `leases "${name}" not found`));
      if (req.method === 'GET') return sendJson(res, 200, current);
      if (req.method === 'PUT') {
        if (body.metadata.resourceVersion !== current.metadata.resourceVersion) {
          return sendJson(
            res,
            409,
            status(
              409,
              'Conflict',
              'the object has been modified; please apply your changes to the latest version and try again',
            ),
          );
        }
        const lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
        leases.set(name, lease);
        return sendJson(res, 200, lease);
      }
      return sendJson(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not supported here`));
    },
  );
  const at = await listenOn(server, 0, '127.0.0.1');
  return { url: `https://127.0.0.1:${at.port}`, leases, close: () => closeServer(server, false) };
}
