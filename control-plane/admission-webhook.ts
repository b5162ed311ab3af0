// Sidecar injection, the way Linkerd and Istio do it: a mutating admission webhook. The API server sends an
// AdmissionReview (admission.k8s.io/v1) for each pod being created; the answer carries a JSONPatch that adds
// the `roam proxy` as a native sidecar (an init container with restartPolicy: Always, Kubernetes 1.29+) and,
// before it, `proxy-init`, which redirects the app's inbound port to the proxy with iptables.
// The proxy proves who it is with the pod's projected service-account token (audience roam, checked by the
// control plane with a TokenReview: control-plane/token-review.ts), so no secret goes into the pod spec; the
// mesh CA's certificate, which is public, rides in an annotation the pod reads back through the downward API
// (a ConfigMap could not be mounted: it would have to exist in every application namespace).
// Which pods: the MutatingWebhookConfiguration (deploy/kubernetes/base/webhook.yaml) calls /inject/namespace
// for pods of namespaces labelled roam.dev/inject=enabled and /inject/workload for pods labelled so; a pod
// opts out with the label or annotation roam.dev/inject=disabled. Everything else is allowed unchanged.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { BadRequestError, NotFoundError } from '../core/errors.ts';
import { closeServer, listenOn, readBody, sendError, sendJson } from '../core/http.ts';
import { SIDECAR_NODE_FLAGS } from '../proxy/node-flags.ts';
import { TOKEN_AUDIENCE } from './token-review.ts';

export const INJECT = 'roam.dev/inject';
/** The app port the proxy fronts (and that proxy-init redirects); default: the first container's first port. */
export const INBOUND_PORT = 'roam.dev/inbound-port';
export const PROXY_CONTAINER = 'roam-proxy';
export const INIT_CONTAINER = 'roam-init';
/** The mesh CA's certificate (PEM), set on the pod for the proxy to read as a file. */
export const MESH_CA_ANNOTATION = 'roam.dev/mesh-ca';
/** Where the proxy finds its service-account token (`token`) and the mesh CA (`ca.pem`). */
export const IDENTITY_DIR = '/var/run/secrets/roam';

export interface InjectorOptions {
  /** The Roam image (it has the `roam` entrypoint and /usr/local/bin/proxy-init). */
  image: string;
  /** The control plane's gRPC address as pods reach it, e.g. roam-control-plane.roam-system.svc:7950. */
  controlPlane: string;
  /** The mesh CA's certificate (PEM); undefined while the control plane runs with mTLS off. */
  caPem: () => string | undefined;
  /** The proxy's inbound port (proxy-init redirects to it) and admin port (probes). */
  proxyPort?: number;
  adminPort?: number;
}

interface Container {
  name: string;
  ports?: { containerPort: number }[];
  [key: string]: unknown;
}

interface Pod {
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    containers?: Container[];
    initContainers?: Container[];
    volumes?: unknown[];
    hostNetwork?: boolean;
  };
}

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  object?: Pod;
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: true;
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
  };
}

export interface JsonPatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

/** How the pod came to be considered: its namespace opted in, or the workload itself did. */
export type Scope = 'namespace' | 'workload';

function optedOut(pod: Pod): boolean {
  return pod.metadata?.labels?.[INJECT] === 'disabled' || pod.metadata?.annotations?.[INJECT] === 'disabled';
}

function optedIn(pod: Pod): boolean {
  return pod.metadata?.labels?.[INJECT] === 'enabled' || pod.metadata?.annotations?.[INJECT] === 'enabled';
}

/** Why the pod is left alone, or undefined when it gets the sidecar. */
function skipReason(pod: Pod, scope: Scope): string | undefined {
  if (optedOut(pod)) return `${INJECT}=disabled`;
  if (scope === 'workload' && !optedIn(pod)) return `neither the pod nor its namespace has ${INJECT}=enabled`;
  const present = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  if (present.some((c) => c.name === PROXY_CONTAINER)) return 'the sidecar is already there';
  // iptables in a host-network pod would rewrite the node's own rules.
  if (pod.spec?.hostNetwork) return 'the pod uses the host network';
  return undefined;
}

function inboundPort(pod: Pod): number | string {
  const annotated = pod.metadata?.annotations?.[INBOUND_PORT];
  if (annotated !== undefined) {
    const port = Number(annotated);
    return Number.isInteger(port) && port > 0 && port < 65536
      ? port
      : `annotation ${INBOUND_PORT}="${annotated}" is not a port number`;
  }
  const port = pod.spec?.containers?.[0]?.ports?.[0]?.containerPort;
  return port ?? `no container port to front: set the annotation ${INBOUND_PORT}`;
}

/** The JSONPatch that meshes `pod`, or the reason it is left alone. */
export function sidecarPatch(
  pod: Pod,
  namespace: string,
  scope: Scope,
  options: InjectorOptions,
): { patch: JsonPatchOp[] } | { skipped: string } {
  const reason = skipReason(pod, scope);
  if (reason) return { skipped: reason };
  const port = inboundPort(pod);
  if (typeof port === 'string') return { skipped: port };
  const proxyPort = options.proxyPort ?? 4143;
  const adminPort = options.adminPort ?? 4191;
  if (port === proxyPort || port === adminPort) {
    return { skipped: `the app port ${port} is one the proxy needs (${proxyPort}, ${adminPort})` };
  }
  const caPem = options.caPem();
  const restricted = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  const init = {
    name: INIT_CONTAINER,
    image: options.image,
    command: ['/usr/local/bin/proxy-init'],
    env: [
      { name: 'ROAM_PROXY_PORT', value: String(proxyPort) },
      { name: 'ROAM_INBOUND_PORTS', value: String(port) },
    ],
    // iptables needs root and these two capabilities, and nothing else.
    securityContext: {
      ...restricted,
      runAsUser: 0,
      runAsNonRoot: false,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] },
    },
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    volumeMounts: [{ name: 'roam-init-run', mountPath: '/run' }],
  };
  const probe = (path: string) => ({ httpGet: { path, port: adminPort }, periodSeconds: 2 });
  const proxy = {
    name: PROXY_CONTAINER,
    image: options.image,
    restartPolicy: 'Always',
    args: [
      'proxy',
      // The node a TokenReview of the pod's token names (pods made by a ReplicaSet get their name only after
      // admission, so it comes from the downward API).
      '--id',
      `${namespace}/$(POD_NAME)`,
      // The pod IP, not 0.0.0.0: it is also the address the proxy reports to the control plane.
      '--listen',
      `$(POD_IP):${proxyPort}`,
      '--admin',
      `0.0.0.0:${adminPort}`,
      '--upstream',
      `http://127.0.0.1:${port}`,
      '--control-plane',
      options.controlPlane,
    ],
    env: [
      // Read again at every (re)connect and renewal: kubelet replaces the token before it expires.
      { name: 'ROAM_NODE_TOKEN_FILE', value: `${IDENTITY_DIR}/token` },
      ...(caPem ? [{ name: 'ROAM_CA', value: `${IDENTITY_DIR}/ca.pem` }] : []),
      // The old-space cap in these flags is sized to the memory limit below.
      { name: 'NODE_OPTIONS', value: SIDECAR_NODE_FLAGS.join(' ') },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    ],
    ports: [
      { name: 'roam-proxy', containerPort: proxyPort },
      { name: 'roam-admin', containerPort: adminPort },
    ],
    // The app starts only once the proxy is up (a native sidecar's startup probe gates the next container).
    startupProbe: { ...probe('/healthz'), failureThreshold: 30 },
    readinessProbe: probe('/readyz'),
    livenessProbe: probe('/healthz'),
    securityContext: { ...restricted, runAsNonRoot: true, runAsUser: 10001 },
    resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    volumeMounts: [
      { name: 'roam-proxy-tmp', mountPath: '/tmp' },
      { name: 'roam-identity', mountPath: IDENTITY_DIR, readOnly: true },
    ],
  };
  const identitySources: unknown[] = [
    // Short-lived and for Roam only: the API server refuses it anywhere else.
    { serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 3600, path: 'token' } },
  ];
  if (caPem) {
    identitySources.push({
      downwardAPI: {
        items: [{ path: 'ca.pem', fieldRef: { fieldPath: `metadata.annotations['${MESH_CA_ANNOTATION}']` } }],
      },
    });
  }
  const volumes = [
    { name: 'roam-init-run', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    { name: 'roam-proxy-tmp', emptyDir: { sizeLimit: '64Mi' } },
    { name: 'roam-identity', projected: { sources: identitySources } },
  ];
  const patch: JsonPatchOp[] = [];
  // The proxy-init runs first, then the sidecar, then the pod's own init containers, then its containers.
  if (pod.spec?.initContainers?.length) {
    patch.push({ op: 'add', path: '/spec/initContainers/0', value: proxy });
    patch.push({ op: 'add', path: '/spec/initContainers/0', value: init });
  } else {
    patch.push({ op: 'add', path: '/spec/initContainers', value: [init, proxy] });
  }
  if (pod.spec?.volumes?.length) {
    for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
  } else {
    patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  }
  if (caPem) {
    patch.push(
      pod.metadata?.annotations
        ? { op: 'add', path: `/metadata/annotations/${MESH_CA_ANNOTATION.replace('/', '~1')}`, value: caPem }
        : { op: 'add', path: '/metadata/annotations', value: { [MESH_CA_ANNOTATION]: caPem } },
    );
  }
  return { patch };
}

/** Answers one AdmissionReview request (already parsed JSON); throws BadRequestError on a malformed one. */
export function review(body: unknown, scope: Scope, options: InjectorOptions): AdmissionReview {
  const b = body as { apiVersion?: unknown; kind?: unknown; request?: AdmissionRequest } | null;
  if (!b || typeof b !== 'object' || b.kind !== 'AdmissionReview') {
    throw new BadRequestError('the body must be an AdmissionReview (kind: AdmissionReview)');
  }
  if (b.apiVersion !== 'admission.k8s.io/v1') {
    throw new BadRequestError(
      `AdmissionReview apiVersion must be admission.k8s.io/v1, got ${JSON.stringify(b.apiVersion)}`,
    );
  }
  const req = b.request;
  if (!req || typeof req.uid !== 'string' || req.uid === '') {
    throw new BadRequestError('AdmissionReview.request.uid is missing');
  }
  const allow = (extra: Partial<AdmissionReview['response']> = {}): AdmissionReview => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: req.uid, allowed: true, ...extra },
  });
  const isPod = req.kind?.kind === 'Pod' && (req.kind.group ?? '') === '' && req.kind.version === 'v1';
  if (!isPod || req.operation !== 'CREATE' || !req.object) return allow();
  const result = sidecarPatch(
    req.object,
    req.namespace ?? req.object.metadata?.namespace ?? 'default',
    scope,
    options,
  );
  if ('skipped' in result) {
    // Only a pod that asked for the sidecar hears why it did not get one.
    const asked = scope === 'namespace' || optedIn(req.object);
    const quiet = result.skipped === 'the sidecar is already there' || optedOut(req.object);
    return asked && !quiet ? allow({ warnings: [`roam: sidecar not injected: ${result.skipped}`] }) : allow();
  }
  return allow({
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(result.patch)).toString('base64'),
  });
}

/** The webhook's HTTPS server: POST /inject/namespace, POST /inject/workload, GET /healthz. */
export class AdmissionWebhook {
  private readonly server: Server;

  constructor(tls: { cert: string; key: string }, options: InjectorOptions) {
    this.server = createServer(
      { cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
      async (req, res) => {
        try {
          const url = new URL(req.url ?? '/', 'https://webhook');
          if (req.method === 'GET' && url.pathname === '/healthz')
            return sendJson(res, 200, { status: 'ok' });
          const scope = /^\/inject\/(namespace|workload)$/.exec(url.pathname)?.[1] as Scope | undefined;
          if (req.method !== 'POST' || !scope) {
            throw new NotFoundError(`no webhook route ${req.method} ${url.pathname}`);
          }
          const body = await readBody(req, 4 * 1024 * 1024);
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.from(body).toString('utf8'));
          } catch {
            throw new BadRequestError('the body is not JSON');
          }
          sendJson(res, 200, review(parsed, scope, options));
        } catch (err) {
          sendError(res, err);
        }
      },
    );
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return listenOn(this.server, port, host);
  }

  close(): Promise<void> {
    return closeServer(this.server, false);
  }
}
