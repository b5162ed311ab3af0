// The sidecar injector as the API server sees it: AdmissionReview v1 requests over HTTPS (a real server on
// loopback with a self-signed certificate), JSONPatch answers applied with an RFC 6902 library, and the
// patched pods validated against the Kubernetes schemas. Injected proxies carry no secret: they present the
// pod's projected service-account token.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fjp from 'fast-json-patch';
import { Pod } from 'kubernetes-models/v1';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRoam, stopAll } from '../../test/support/processes.ts';
import {
  AdmissionWebhook,
  INIT_CONTAINER,
  MESH_CA_ANNOTATION,
  PROXY_CONTAINER,
} from '../admission-webhook.ts';
import { startFakeKubeApi } from './fake-kube-api.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

const caPem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
let cert: TestCert;
let webhook: AdmissionWebhook;
let base: string;
let agent: Agent;

beforeAll(async () => {
  cert = selfSignedCert();
  webhook = new AdmissionWebhook(
    { cert: cert.certFile, key: cert.keyFile },
    { image: 'roam:test', controlPlane: 'roam-control-plane.roam-system.svc:7950', caPem: () => caPem },
  );
  const at = await webhook.listen(0, '127.0.0.1');
  base = `https://127.0.0.1:${at.port}`;
  agent = new Agent({ connect: { ca: cert.cert } });
});

afterAll(async () => {
  await webhook.close();
  await agent.close();
  cert.remove();
});

// biome-ignore lint/suspicious/noExplicitAny: pods and reviews are read loosely, field by field.
type Json = any;

function appPod(overrides: Json = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'shop-7d9f8-',
      namespace: 'shop',
      labels: { app: 'shop' },
      ...overrides.metadata,
    },
    spec: {
      containers: [{ name: 'shop', image: 'shop:1', ports: [{ containerPort: 8080 }] }],
      ...overrides.spec,
    },
  };
}

function admissionReview(pod: Json, extra: Json = {}): Json {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...extra,
    },
  };
}

async function post(path: string, body: unknown): Promise<{ status: number; json: Json }> {
  const res = await request(`${base}${path}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, json: await res.body.json() };
}

/** No secret in a meshed pod: no node token, no control-plane secret, in any container's environment. */
function expectNoSecrets(pod: Json): void {
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    const names = (c.env ?? []).map((e: Json) => e.name);
    expect(names).not.toContain('ROAM_NODE_TOKEN');
    expect(names).not.toContain('ROAM_SECRET');
  }
}

/** Sends the review and returns the pod as the API server would store it, plus the raw response. */
async function admit(path: string, pod: Json, extra: Json = {}): Promise<{ pod: Json; response: Json }> {
  const { status, json } = await post(path, admissionReview(pod, extra));
  expect(status).toBe(200);
  expect(json.apiVersion).toBe('admission.k8s.io/v1');
  expect(json.kind).toBe('AdmissionReview');
  expect(json.response.uid).toBe('705ab4f5-6393-11e8-b7cc-42010a800002');
  expect(json.response.allowed).toBe(true);
  if (!json.response.patch) return { pod, response: json.response };
  expect(json.response.patchType).toBe('JSONPatch');
  const patch = JSON.parse(Buffer.from(json.response.patch, 'base64').toString('utf8'));
  const patched = fjp.applyPatch(structuredClone(pod), patch, true, false).newDocument;
  return { pod: patched, response: json.response };
}

describe('mutating admission webhook', () => {
  it('meshes a pod of an opted-in namespace with proxy-init and a native sidecar', async () => {
    const { pod } = await admit('/inject/namespace', appPod());
    const [init, proxy] = pod.spec.initContainers;
    expect(init.name).toBe(INIT_CONTAINER);
    expect(init.command).toEqual(['/usr/local/bin/proxy-init']);
    expect(init.env).toEqual([
      { name: 'ROAM_PROXY_PORT', value: '4143' },
      { name: 'ROAM_INBOUND_PORTS', value: '8080' },
    ]);
    expect(init.securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(proxy.name).toBe(PROXY_CONTAINER);
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.args).toContain('http://127.0.0.1:8080');
    expect(proxy.args).toContain('roam-control-plane.roam-system.svc:7950');
    expect(proxy.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    // The id a TokenReview of the pod's token names: NAMESPACE/POD, the name known only once the pod exists.
    expect(proxy.args[proxy.args.indexOf('--id') + 1]).toBe('shop/$(POD_NAME)');
    expect(proxy.env).toContainEqual({
      name: 'POD_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    // It proves who it is with the pod's projected token, for Roam only and short-lived, and checks the control
    // plane with the mesh CA read back from the pod's annotation.
    expectNoSecrets(pod);
    expect(proxy.env).toContainEqual({ name: 'ROAM_NODE_TOKEN_FILE', value: '/var/run/secrets/roam/token' });
    expect(proxy.env).toContainEqual({ name: 'ROAM_CA', value: '/var/run/secrets/roam/ca.pem' });
    expect(proxy.volumeMounts).toContainEqual({
      name: 'roam-identity',
      mountPath: '/var/run/secrets/roam',
      readOnly: true,
    });
    expect(pod.spec.volumes.map((v: Json) => v.name)).toEqual([
      'roam-init-run',
      'roam-proxy-tmp',
      'roam-identity',
    ]);
    expect(pod.spec.volumes[2].projected.sources).toEqual([
      { serviceAccountToken: { audience: 'roam', expirationSeconds: 3600, path: 'token' } },
      {
        downwardAPI: {
          items: [{ path: 'ca.pem', fieldRef: { fieldPath: "metadata.annotations['roam.dev/mesh-ca']" } }],
        },
      },
    ]);
    expect(pod.metadata.annotations).toEqual({ [MESH_CA_ANNOTATION]: caPem });
    // The app container is untouched and the result is a valid Pod.
    expect(pod.spec.containers).toEqual(appPod().spec.containers);
    expect(() => new Pod(pod).validate()).not.toThrow();
  });

  it('goes before the pod own init containers and keeps its volumes and annotations', async () => {
    const original = appPod({
      metadata: { name: 'shop-0', annotations: { team: 'a' } },
      spec: {
        initContainers: [{ name: 'migrate', image: 'shop:1' }],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    });
    const { pod } = await admit('/inject/namespace', original);
    expect(pod.spec.initContainers.map((c: Json) => c.name)).toEqual([
      INIT_CONTAINER,
      PROXY_CONTAINER,
      'migrate',
    ]);
    expect(pod.spec.volumes.map((v: Json) => v.name)).toEqual([
      'data',
      'roam-init-run',
      'roam-proxy-tmp',
      'roam-identity',
    ]);
    expect(pod.metadata.annotations).toEqual({ team: 'a', [MESH_CA_ANNOTATION]: caPem });
    expect(() => new Pod(pod).validate()).not.toThrow();
  });

  it('is idempotent: a pod that already has the sidecar gets no patch', async () => {
    const { pod } = await admit('/inject/namespace', appPod());
    const again = await admit('/inject/namespace', pod);
    expect(again.response.patch).toBeUndefined();
    expect(again.response.warnings).toBeUndefined();
    expect(again.pod.spec.initContainers).toHaveLength(2);
  });

  it('leaves alone pods that did not opt in, or opted out', async () => {
    const plain = await admit('/inject/workload', appPod());
    expect(plain.response.patch).toBeUndefined();
    expect(plain.response.warnings).toBeUndefined();

    const out = await admit(
      '/inject/namespace',
      appPod({ metadata: { labels: { 'roam.dev/inject': 'disabled' } } }),
    );
    expect(out.response.patch).toBeUndefined();

    const annotatedOut = await admit(
      '/inject/namespace',
      appPod({ metadata: { annotations: { 'roam.dev/inject': 'disabled' } } }),
    );
    expect(annotatedOut.response.patch).toBeUndefined();
  });

  it('meshes a workload that opted in by label or annotation, in any namespace', async () => {
    const byLabel = await admit(
      '/inject/workload',
      appPod({ metadata: { labels: { 'roam.dev/inject': 'enabled' } } }),
    );
    expect(byLabel.pod.spec.initContainers.map((c: Json) => c.name)).toEqual([
      INIT_CONTAINER,
      PROXY_CONTAINER,
    ]);
    const byAnnotation = await admit(
      '/inject/workload',
      appPod({
        metadata: { annotations: { 'roam.dev/inject': 'enabled', 'roam.dev/inbound-port': '9090' } },
      }),
    );
    expect(byAnnotation.pod.spec.initContainers[1].args).toContain('http://127.0.0.1:9090');
    expect(byAnnotation.pod.spec.initContainers[0].env[1]).toEqual({
      name: 'ROAM_INBOUND_PORTS',
      value: '9090',
    });
  });

  it('allows other kinds and operations unchanged', async () => {
    const update = await admit('/inject/namespace', appPod(), { operation: 'UPDATE' });
    expect(update.response.patch).toBeUndefined();
    const deployment = await admit('/inject/namespace', appPod(), {
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    });
    expect(deployment.response.patch).toBeUndefined();
  });

  it('says why a pod that asked for the sidecar did not get it', async () => {
    const hostNet = await admit('/inject/namespace', appPod({ spec: { hostNetwork: true } }));
    expect(hostNet.response.patch).toBeUndefined();
    expect(hostNet.response.warnings).toEqual(['roam: sidecar not injected: the pod uses the host network']);

    const noPort = await admit(
      '/inject/namespace',
      appPod({ spec: { containers: [{ name: 'job', image: 'j:1' }] } }),
    );
    expect(noPort.response.warnings[0]).toContain('roam.dev/inbound-port');

    const badPort = await admit(
      '/inject/namespace',
      appPod({ metadata: { annotations: { 'roam.dev/inbound-port': 'http' } } }),
    );
    expect(badPort.response.warnings[0]).toContain('"http" is not a port number');
  });

  it('refuses malformed requests with a clear error', async () => {
    const notJson = await post('/inject/namespace', '{');
    expect(notJson.status).toBe(400);
    expect(notJson.json.error).toBe('ROAM_ERR_BAD_REQUEST');

    const v1beta1 = await post('/inject/namespace', {
      ...admissionReview(appPod()),
      apiVersion: 'admission.k8s.io/v1beta1',
    });
    expect(v1beta1.status).toBe(400);
    expect(v1beta1.json.message).toContain('admission.k8s.io/v1');

    const noUid = await post('/inject/namespace', {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {},
    });
    expect(noUid.status).toBe(400);
    expect(noUid.json.message).toContain('request.uid');

    const wrongPath = await post('/mutate', admissionReview(appPod()));
    expect(wrongPath.status).toBe(404);
  });
});

describe('roam control-plane --webhook-listen', () => {
  it('serves the webhook over HTTPS: proxies present their service-account token and trust the mesh CA', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'roam-webhook-'));
    const api = await startFakeKubeApi(cert, 'roam-system', 'cp-token');
    const serviceAccount = join(dataDir, 'sa');
    mkdirSync(serviceAccount);
    writeFileSync(join(serviceAccount, 'token'), 'cp-token');
    writeFileSync(join(serviceAccount, 'ca.crt'), cert.cert);
    writeFileSync(join(serviceAccount, 'namespace'), 'roam-system');
    try {
      const cp = await startRoam(
        [
          'control-plane',
          '--grpc=127.0.0.1:0',
          '--admin=127.0.0.1:0',
          `--data-dir=${join(dataDir, 'cp')}`,
          '--kubernetes-auth',
          '--webhook-listen=127.0.0.1:0',
          `--tls-cert=${cert.certFile}`,
          `--tls-key=${cert.keyFile}`,
          '--sidecar-image=roam:9.9.9',
          '--sidecar-control-plane=cp.example:7950',
        ],
        {
          ROAM_SECRET: 'from-a-kubernetes-secret',
          KUBERNETES_SERVICE_HOST: '127.0.0.1',
          KUBERNETES_SERVICE_PORT: new URL(api.url).port,
          ROAM_SERVICE_ACCOUNT_DIR: serviceAccount,
        },
      );
      const res = await request(`https://${cp.info.webhook}/inject/namespace`, {
        method: 'POST',
        dispatcher: agent,
        body: JSON.stringify(admissionReview(appPod())),
      });
      const review = (await res.body.json()) as Json;
      const patch = JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8'));
      const pod = fjp.applyPatch(appPod(), patch, true, false).newDocument as Json;
      const proxy = pod.spec.initContainers[1];
      expect(proxy.image).toBe('roam:9.9.9');
      expect(proxy.args).toContain('cp.example:7950');
      expectNoSecrets(pod);
      expect(JSON.stringify(pod)).not.toContain('from-a-kubernetes-secret');
      const ca = readFileSync(join(dataDir, 'cp', 'ca.pem'), 'utf8');
      expect(pod.metadata.annotations[MESH_CA_ANNOTATION]).toBe(ca);
      expect(() => new Pod(pod).validate()).not.toThrow();
    } finally {
      await stopAll();
      await api.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses incomplete flags with the reason', async () => {
    await expect(startRoam(['control-plane', '--webhook-listen=127.0.0.1:0'])).rejects.toThrow(
      /--webhook-listen needs --tls-cert and --tls-key/,
    );
    await expect(
      startRoam([
        'control-plane',
        '--webhook-listen=127.0.0.1:0',
        `--tls-cert=${cert.certFile}`,
        `--tls-key=${cert.keyFile}`,
        '--sidecar-image=roam:1',
      ]),
    ).rejects.toThrow(/--webhook-listen needs --kubernetes-auth/);
    await expect(
      startRoam(['control-plane', '--kubernetes-auth'], { KUBERNETES_SERVICE_HOST: '' }),
    ).rejects.toThrow(
      /--kubernetes-auth needs the pod's service account: KUBERNETES_SERVICE_HOST is not set/,
    );
    await expect(startRoam(['control-plane', '--leader-elect'])).rejects.toThrow(
      /--leader-elect needs --state-url/,
    );
  });
});
