// A minimal stand-in for the API server's TokenReview and ConfigMap endpoints, for tests only. Reviews answer as
// the real one does for projected service-account tokens: authenticated with the pod in user.extra when the
// token is one it minted and the requested audiences meet the token's, otherwise unauthenticated with a reason.
// `failing` makes it answer 503, as an API server in trouble would; `ignoresAudiences` makes it authenticate
// any token it minted and answer no audiences, as one that does not check them would.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { closeServer, listenOn, readBody, sendJson } from '../../core/http.ts';
import type { TestCert } from './tls.ts';

// biome-ignore lint/suspicious/noExplicitAny: the fake stores objects as the client sent them.
type Json = any;

export interface FakeKubeApi {
  url: string;
  /** Mints a projected token for pod NAMESPACE/POD, JWT-shaped, valid for `seconds`. */
  mint(pod: string, options?: { namespace?: string; audiences?: string[]; seconds?: number }): string;
  /** Mints a token of a Secret-based service account: authenticated, but bound to no pod. */
  mintUnbound(namespace: string): string;
  /** Every TokenReview received, in order. */
  reviews: Json[];
  configMaps: Map<string, Json>;
  failing: boolean;
  ignoresAudiences: boolean;
  close(): Promise<void>;
}

function status(code: number, reason: string, message: string) {
  return { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export async function startFakeKubeApi(
  cert: TestCert,
  namespace: string,
  callerToken: string,
): Promise<FakeKubeApi> {
  const minted = new Map<string, { namespace: string; pod?: string; audiences: string[] }>();
  let serial = 0;
  let version = 0;
  const api: FakeKubeApi = {
    url: '',
    reviews: [],
    configMaps: new Map(),
    failing: false,
    ignoresAudiences: false,
    mint(pod, options = {}) {
      const audiences = options.audiences ?? ['roam'];
      const exp = Math.floor(Date.now() / 1000) + (options.seconds ?? 3600);
      const token = `${b64({ alg: 'RS256', kid: 'fake' })}.${b64({ aud: audiences, exp, n: ++serial })}.sig`;
      minted.set(token, { namespace: options.namespace ?? namespace, pod, audiences });
      return token;
    },
    mintUnbound(ns) {
      const token = `${b64({ alg: 'RS256' })}.${b64({ aud: ['roam'], n: ++serial })}.sig`;
      minted.set(token, { namespace: ns, audiences: ['roam'] });
      return token;
    },
    close: async () => {},
  };
  const configMapBase = `/api/v1/namespaces/${namespace}/configmaps`;
  const server: Server = createServer(
    { cert: cert.cert, key: readFileSync(cert.keyFile) },
    async (req, res) => {
      if (req.headers.authorization !== `Bearer ${callerToken}`)
        return sendJson(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
      if (api.failing) return sendJson(res, 503, status(503, 'ServiceUnavailable', 'etcd is unavailable'));
      const url = new URL(req.url ?? '/', 'https://api');
      const body: Json =
        req.method === 'GET' ? undefined : JSON.parse(Buffer.from(await readBody(req, 1 << 20)).toString());
      if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
        api.reviews.push(body);
        const wanted: string[] = body.spec.audiences ?? [];
        const found = minted.get(body.spec.token);
        const audiences = found ? found.audiences.filter((a) => wanted.includes(a)) : [];
        const reviewStatus = !found
          ? { authenticated: false, error: '[invalid bearer token, token lookup failed]' }
          : audiences.length === 0 && !api.ignoresAudiences
            ? {
                authenticated: false,
                error: `[invalid bearer token, token audiences ${JSON.stringify(found.audiences)} is invalid for the target audiences ${JSON.stringify(wanted)}]`,
              }
            : {
                authenticated: true,
                ...(api.ignoresAudiences ? {} : { audiences }),
                user: {
                  username: `system:serviceaccount:${found.namespace}:default`,
                  groups: ['system:serviceaccounts', `system:serviceaccounts:${found.namespace}`],
                  ...(found.pod
                    ? {
                        extra: {
                          'authentication.kubernetes.io/pod-name': [found.pod],
                          'authentication.kubernetes.io/pod-uid': ['00000000-0000-0000-0000-000000000001'],
                        },
                      }
                    : {}),
                },
              };
        return sendJson(res, 201, { ...body, status: reviewStatus });
      }
      if (req.method === 'POST' && url.pathname === configMapBase) {
        const name = body.metadata.name as string;
        if (api.configMaps.has(name))
          return sendJson(res, 409, status(409, 'AlreadyExists', `configmaps "${name}" already exists`));
        const made = {
          ...body,
          metadata: { ...body.metadata, namespace, resourceVersion: String(++version) },
        };
        api.configMaps.set(name, made);
        return sendJson(res, 201, made);
      }
      if (url.pathname.startsWith(`${configMapBase}/`)) {
        const name = decodeURIComponent(url.pathname.slice(configMapBase.length + 1));
        const current = api.configMaps.get(name);
        if (!current) return sendJson(res, 404, status(404, 'NotFound', `configmaps "${name}" not found`));
        if (req.method === 'GET') return sendJson(res, 200, current);
        if (req.method === 'PUT') {
          if (body.metadata.resourceVersion !== current.metadata.resourceVersion)
            return sendJson(res, 409, status(409, 'Conflict', 'the object has been modified'));
          const updated = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
          api.configMaps.set(name, updated);
          return sendJson(res, 200, updated);
        }
      }
      return sendJson(res, 404, status(404, 'NotFound', `no route ${req.method} ${url.pathname}`));
    },
  );
  const at = await listenOn(server, 0, '127.0.0.1');
  api.url = `https://127.0.0.1:${at.port}`;
  api.close = () => closeServer(server, false);
  return api;
}
