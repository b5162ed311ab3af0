// Pods proving who they are with projected service-account tokens (issue 17, Kubernetes): a real
// `roam control-plane --kubernetes-auth` process with mTLS on, checking tokens with TokenReviews against a fake
// API server on loopback HTTPS, and real nodes: `roam host --token-file` processes and discovery clients. A
// pod's token gets a certificate for that pod and nothing else; refused reviews and a failing API server answer
// with the reason; a rotated token file is read on the next connect; the mesh CA lands in the ConfigMap roam-ca.
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../test/support/control-plane.ts';
import { type RoamProcess, startRoam, stopAll } from '../../test/support/processes.ts';
import { nodeToken } from '../auth.ts';
import { DiscoveryClient } from '../client.ts';
import { createCsr } from '../csr.ts';
import { Discovery, type IssuedCertificateMsg, type NodeMessage, type SnapshotMsg } from '../proto.ts';
import { TokenRefusedError, TokenReviewer, TokenReviewUnavailableError } from '../token-review.ts';
import { type FakeKubeApi, startFakeKubeApi } from './fake-kube-api.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

const NAMESPACE = 'roam-system';
const CALLER = 'control-plane-sa-token';
const SECRET = 'test-secret';
let cert: TestCert;
let api: FakeKubeApi;
let dir: string;
let cp: RoamProcess;
let caFile: string;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  cert = selfSignedCert();
  api = await startFakeKubeApi(cert, NAMESPACE, CALLER);
  dir = mkdtempSync(join(tmpdir(), 'roam-kube-auth-'));
  // The control plane's own service account, laid out as kubelet mounts it.
  const serviceAccount = join(dir, 'sa');
  mkdirSync(serviceAccount);
  writeFileSync(join(serviceAccount, 'token'), CALLER);
  writeFileSync(join(serviceAccount, 'ca.crt'), cert.cert);
  writeFileSync(join(serviceAccount, 'namespace'), NAMESPACE);
  const dataDir = join(dir, 'cp');
  cp = await startRoam(
    [
      'control-plane',
      '--grpc=127.0.0.1:0',
      '--admin=127.0.0.1:0',
      `--data-dir=${dataDir}`,
      '--kubernetes-auth',
      '--placement-loop=off',
    ],
    {
      ROAM_SECRET: SECRET,
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: new URL(api.url).port,
      ROAM_SERVICE_ACCOUNT_DIR: serviceAccount,
    },
  );
  caFile = join(dataDir, 'ca.pem');
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  api.failing = false;
});

afterAll(async () => {
  await stopAll();
  await api.close();
  cert.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a token file the way kubelet does: a new file swapped in whole. */
function writeToken(file: string, token: string): void {
  writeFileSync(`${file}.new`, token);
  renameSync(`${file}.new`, file);
}

function client(
  id: string,
  token: string | (() => string),
  log?: Record<string, unknown>[],
): DiscoveryClient {
  const c = new DiscoveryClient({
    address: cp.info.grpc as string,
    token,
    caFile,
    node: {
      nodeId: id,
      kind: 'host',
      tier: 'cluster',
      location: 'node-a',
      address: 'http://127.0.0.1:1',
      cpuMillis: 1000,
      memoryMib: 256,
      capabilities: [],
      stores: [],
    },
    apply: async () => ({ ready: [] }),
    processIdentity: false,
    ...(log ? { log: (e: Record<string, unknown>) => void log.push(e) } : {}),
  });
  cleanups.push(() => c.close());
  c.start();
  return c;
}

type RawClient = grpc.Client & {
  IssueCertificate(
    req: unknown,
    md: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: IssuedCertificateMsg) => void,
  ): void;
  Stream(md: grpc.Metadata): grpc.ClientDuplexStream<NodeMessage, SnapshotMsg>;
};

/** A bare gRPC client, for asking what a node's own client never would. */
function raw(): RawClient {
  const c = new Discovery(
    cp.info.grpc as string,
    grpc.credentials.createSsl(readFileSync(caFile), null, null, { checkServerIdentity: () => undefined }),
    { 'grpc.ssl_target_name_override': 'roam-control-plane' },
  ) as unknown as RawClient;
  cleanups.push(() => c.close());
  return c;
}

function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

async function issue(token: string, nodeId: string): Promise<grpc.ServiceError | IssuedCertificateMsg> {
  const { csrPem } = await createCsr(nodeId);
  return new Promise((resolve) =>
    raw().IssueCertificate(
      { csr: csrPem, node: { nodeId, kind: 'host', tier: 'cluster', location: 'x' } },
      bearer(token),
      (err, res) => resolve(err ?? res!),
    ),
  );
}

/** Subscribes as `nodeId` and returns how the stream ended (or its first snapshot). */
function subscribe(token: string, nodeId: string): Promise<grpc.ServiceError | SnapshotMsg> {
  const stream = raw().Stream(bearer(token));
  return new Promise((resolve) => {
    stream.on('data', (s: SnapshotMsg) => {
      resolve(s);
      stream.cancel();
    });
    stream.on('error', (err: grpc.ServiceError) => resolve(err));
    stream.write({
      subscribe: {
        nodeId,
        kind: 'host',
        tier: 'cluster',
        location: 'x',
        address: 'http://127.0.0.1:1',
        cpuMillis: 1000,
        memoryMib: 256,
        capabilities: [],
        stores: [],
        appliedVersion: 0,
        ready: [],
      },
    });
  });
}

async function status(): Promise<{ id: string; connected: boolean; certExpires: string | null }[]> {
  const adminToken = readFileSync(join(cp.info.dataDir as string, 'admin.token'), 'utf8').trim();
  const res = await request(`${cp.url}/api/status`, { headers: { authorization: `Bearer ${adminToken}` } });
  return (
    (await res.body.json()) as { nodes: { id: string; connected: boolean; certExpires: string | null }[] }
  ).nodes;
}

describe('roam control-plane --kubernetes-auth', () => {
  it('publishes the mesh CA as the ConfigMap roam-ca', () => {
    expect(api.configMaps.get('roam-ca')?.data).toEqual({ 'ca.pem': readFileSync(caFile, 'utf8') });
  });

  it("a pod's token gets its certificate for spiffe://TD/node/POD, and the node subscribes", async () => {
    const node = client('h1', api.mint('h1'));
    const identity = (await node.identityReady)!;
    expect(identity.spiffeId).toBe(`spiffe://${cp.info.trustDomain}/node/h1`);
    await until('h1 subscribed', async () => node.connected);
  });

  it('a pod outside the control plane namespace is NAMESPACE/POD', async () => {
    const token = api.mint('shop-7d9f8-abcde', { namespace: 'shop' });
    const issued = (await issue(token, 'shop/shop-7d9f8-abcde')) as IssuedCertificateMsg;
    expect(issued.certificateChain).toContain('BEGIN CERTIFICATE');
    const asHost = (await issue(token, 'shop-7d9f8-abcde')) as grpc.ServiceError;
    expect(asHost.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('a token for pod h1 gets no certificate and no subscription as h2', async () => {
    const token = api.mint('h1');
    const cert = (await issue(token, 'h2')) as grpc.ServiceError;
    expect(cert.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(cert.details).toBe('token is for node "h1", not "h2"');
    const sub = (await subscribe(token, 'h2')) as grpc.ServiceError;
    expect(sub.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(sub.details).toBe('token is for node "h1", not "h2"');
    // As itself, the same token subscribes.
    expect((await subscribe(token, 'h1')) as SnapshotMsg).toHaveProperty('version');
  });

  it('refuses what the API server does not authenticate, another audience, and a token bound to no pod', async () => {
    const forged = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.x`;
    const unknown = (await issue(forged, 'h1')) as grpc.ServiceError;
    expect(unknown.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(unknown.details).toBe(
      'the Kubernetes API server did not authenticate the service-account token: [invalid bearer token, token lookup failed]',
    );
    const otherAudience = (await issue(api.mint('h1', { audiences: ['vault'] }), 'h1')) as grpc.ServiceError;
    expect(otherAudience.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(otherAudience.details).toContain(
      'token audiences ["vault"] is invalid for the target audiences ["roam"]',
    );
    const unbound = (await subscribe(api.mintUnbound(NAMESPACE), 'h1')) as grpc.ServiceError;
    expect(unbound.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(unbound.details).toBe(
      "the service-account token of system:serviceaccount:roam-system:default is not bound to a pod: use the pod's projected token, not a Secret's",
    );
    // Not a JWT and not a node token either.
    const garbage = (await issue('h1.not-a-mac', 'h1')) as grpc.ServiceError;
    expect(garbage.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(garbage.details).toContain('missing or invalid node credential');
  });

  it('node tokens keep working beside service-account tokens (hosts outside the cluster)', async () => {
    expect(await issue(nodeToken(SECRET, 'edge-1'), 'edge-1')).toHaveProperty('certificateChain');
    const other = (await issue(nodeToken(SECRET, 'edge-1'), 'edge-2')) as grpc.ServiceError;
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
    const wrong = (await issue(nodeToken('not-the-secret', 'edge-1'), 'edge-1')) as grpc.ServiceError;
    expect(wrong.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(api.reviews.some((r) => r.spec.token.startsWith('edge-1.'))).toBe(false);
  });

  it('a failing API server answers UNAVAILABLE with the reason; a passed review is kept, not asked again', async () => {
    const token = api.mint('h5');
    expect(await issue(token, 'h5')).toHaveProperty('certificateChain');
    const asked = api.reviews.filter((r) => r.spec.token === token).length;
    expect(asked).toBe(1);
    api.failing = true;
    // Reconnects and renewals within the cache's life go without a review.
    expect(await issue(token, 'h5')).toHaveProperty('certificateChain');
    expect((await subscribe(token, 'h5')) as SnapshotMsg).toHaveProperty('version');
    expect(api.reviews.filter((r) => r.spec.token === token)).toHaveLength(asked);
    const fresh = (await issue(api.mint('h6'), 'h6')) as grpc.ServiceError;
    expect(fresh.code).toBe(grpc.status.UNAVAILABLE);
    expect(fresh.details).toBe(
      'the Kubernetes API server refused the TokenReview (503): etcd is unavailable',
    );
  });

  it('roam host --token-file reads a rotated token on its next connect', async () => {
    const tokenFile = join(dir, 'h7-token');
    // A token the API server no longer knows (say, of a deleted pod's predecessor): refused, the host retries.
    writeToken(tokenFile, `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.e30.stale`);
    const host = await startRoam(
      [
        'host',
        '--tier=cluster',
        '--id=h7',
        '--listen=127.0.0.1:0',
        `--control-plane=${cp.info.grpc}`,
        `--token-file=${tokenFile}`,
        '--profiling=off',
      ],
      { ROAM_CA: caFile },
    );
    cleanups.push(async () => {
      await host.stop();
    });
    await until('the refusal logged', async () => host.stderr().includes('did not authenticate'));
    const fresh = api.mint('h7');
    writeToken(tokenFile, fresh);
    await until('h7 connected with a certificate', async () =>
      (await status()).some((n) => n.id === 'h7' && n.connected && n.certExpires !== null),
    );
    expect(api.reviews.some((r) => r.spec.token === fresh)).toBe(true);
  });

  it('a discovery client re-reads its token for every connect', async () => {
    const tokenFile = join(dir, 'h8-token');
    writeToken(tokenFile, api.mint('h8'));
    const read: string[] = [];
    const node = client('h8', () => {
      const token = readFileSync(tokenFile, 'utf8');
      read.push(token);
      return token;
    });
    await until('h8 subscribed', async () => node.connected);
    const rotated = api.mint('h8');
    writeToken(tokenFile, rotated);
    // A restart of the node's connection (the control plane's replica went away, say) presents the new one.
    (node as unknown as { stream: grpc.ClientDuplexStream<unknown, unknown> }).stream.cancel();
    await until('h8 back with the rotated token', async () => read.at(-1) === rotated && node.connected);
    expect(api.reviews.some((r) => r.spec.token === rotated)).toBe(true);
  });
});

describe('TokenReviewer', () => {
  it('says when the API server cannot be reached or refuses it, and refuses a review without audience roam', async () => {
    const down = new TokenReviewer({
      apiServer: 'https://127.0.0.1:1',
      token: () => CALLER,
      homeNamespace: NAMESPACE,
    });
    cleanups.push(() => down.close());
    await expect(down.nodeId(api.mint('h1'))).rejects.toThrow(TokenReviewUnavailableError);
    await expect(down.nodeId(api.mint('h1'))).rejects.toThrow(/cannot reach the Kubernetes API server/);

    const unauthorized = new TokenReviewer({
      apiServer: api.url,
      token: () => 'not-the-caller',
      ca: cert.cert,
      homeNamespace: NAMESPACE,
    });
    cleanups.push(() => unauthorized.close());
    await expect(unauthorized.nodeId(api.mint('h1'))).rejects.toThrow(
      'the Kubernetes API server refused the TokenReview (401): Unauthorized',
    );

    // An API server that ignores spec.audiences (answering with none) does not make any token good for Roam.
    const reviewer = new TokenReviewer({
      apiServer: api.url,
      token: () => CALLER,
      ca: cert.cert,
      homeNamespace: NAMESPACE,
    });
    cleanups.push(() => reviewer.close());
    api.ignoresAudiences = true;
    cleanups.push(() => {
      api.ignoresAudiences = false;
    });
    const refused = reviewer.nodeId(api.mint('h1', { audiences: ['vault'] }));
    await expect(refused).rejects.toThrow(TokenRefusedError);
    await expect(refused).rejects.toThrow(
      'the service-account token is not for audience "roam" (it is for [])',
    );
  });
});
