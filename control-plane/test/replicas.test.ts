// Highly available control plane, end to end: a real PostgreSQL (Debian's package), two `roam control-plane`
// replicas as processes electing a leader through a Lease, and a host connected to the follower. The
// Kubernetes API server is the one thing faked (fake-lease-api.ts: the Lease endpoints only, over HTTPS with
// a service-account token). The leader is killed; the follower takes over with the same state and keeps the
// host served.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointModule } from '../../test/support/modules.ts';
import { type RoamProcess, startHost, startRoam, stopAll } from '../../test/support/processes.ts';
import { needs } from '../../test/support/system.ts';
import { adminToken, nodeToken } from '../auth.ts';
import { createCsr } from '../csr.ts';
import { Discovery, type IssuedCertificateMsg } from '../proto.ts';
import { type FakeLeaseApi, startFakeLeaseApi } from './fake-lease-api.ts';
import { postgresInstalled, startPostgres, type TestPostgres } from './postgres.ts';
import { selfSignedCert, type TestCert } from './tls.ts';

const secret = 'replicas-test-secret';
const token = adminToken(secret);
const dirs: string[] = [];
let pg: TestPostgres;
let cert: TestCert;
let api: FakeLeaseApi;
let serviceAccount: string;

// biome-ignore lint/suspicious/noExplicitAny: the test reads the admin API's JSON loosely, field by field.
type Json = any;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function replica(id: string): Promise<RoamProcess> {
  return startRoam(
    [
      'control-plane',
      '--grpc',
      '127.0.0.1:0',
      '--admin',
      '127.0.0.1:0',
      '--data-dir',
      tempDir(`roam-${id}-`),
      '--state-url',
      pg.url,
      '--leader-elect',
      '--lease-duration-ms',
      '1500',
      '--replica-id',
      id,
      '--node-timeout-ms',
      '3000',
    ],
    {
      ROAM_SECRET: secret,
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: new URL(api.url).port,
      ROAM_SERVICE_ACCOUNT_DIR: serviceAccount,
    },
  );
}

async function call(cp: RoamProcess, method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await request(`${cp.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Json };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** An HTTPS client with a certificate `cp` issued to `nodeId` over its gRPC (IssueCertificate). */
async function meshClient(cp: RoamProcess, nodeId: string): Promise<Agent> {
  const caPem = readFileSync(join(cp.info.dataDir as string, 'ca.pem'));
  const client = new Discovery(
    cp.info.grpc as string,
    grpc.credentials.createSsl(caPem, null, null, { checkServerIdentity: () => undefined }),
    { 'grpc.ssl_target_name_override': 'roam-control-plane' },
  ) as unknown as grpc.Client & {
    IssueCertificate(
      req: unknown,
      md: grpc.Metadata,
      cb: (err: Error | null, res?: IssuedCertificateMsg) => void,
    ): void;
  };
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${nodeToken(secret, nodeId)}`);
  const { keyPem, csrPem } = await createCsr(nodeId);
  const issued = await new Promise<IssuedCertificateMsg>((resolve, reject) =>
    client.IssueCertificate(
      { csr: csrPem, node: { nodeId, kind: 'proxy', tier: '', location: '' } },
      metadata,
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
  client.close();
  return new Agent({
    connect: {
      key: keyPem,
      cert: issued.certificateChain,
      ca: issued.caBundle,
      // The host's certificate names a SPIFFE ID, not the address dialled.
      checkServerIdentity: () => undefined,
    },
  });
}

const leads = async (cp: RoamProcess) => (await call(cp, 'GET', '/readyz')).json.leader === true;

const wanted = needs('postgresql', postgresInstalled(), 'apt-get install postgresql');

beforeAll(async () => {
  if (!wanted) return;
  pg = await startPostgres();
  cert = selfSignedCert();
  api = await startFakeLeaseApi(cert, 'roam-system', 'sa-token');
  serviceAccount = tempDir('roam-sa-');
  writeFileSync(join(serviceAccount, 'token'), 'sa-token');
  writeFileSync(join(serviceAccount, 'ca.crt'), cert.cert);
  writeFileSync(join(serviceAccount, 'namespace'), 'roam-system');
});

afterAll(async () => {
  await stopAll();
  await api?.close();
  cert?.remove();
  pg?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.runIf(wanted)('control-plane replicas', () => {
  it('fail over to the follower with the same state, and keep serving the nodes connected to it', async () => {
    const a = await replica('cp-a');
    await until('cp-a leads', () => leads(a));
    const b = await replica('cp-b');
    expect(await leads(b)).toBe(false);
    expect(api.leases.get('roam-control-plane').spec.holderIdentity).toBe('cp-a');

    // A host subscribes to the follower: the leader learns of it through the shared store.
    const host = await startHost(
      'cluster',
      [],
      '--id',
      'h1',
      '--control-plane',
      b.info.grpc as string,
      '--node-token',
      nodeToken(secret, 'h1'),
      // Both replicas issue from one CA (settled in PostgreSQL on first start): either's ca.pem will do.
      '--ca',
      join(b.info.dataDir as string, 'ca.pem'),
    );
    expect(readFileSync(join(b.info.dataDir as string, 'ca.pem'), 'utf8')).toBe(
      readFileSync(join(a.info.dataDir as string, 'ca.pem'), 'utf8'),
    );
    await until('the leader sees h1', async () =>
      (await call(a, 'GET', '/api/hosts')).json.nodes.some((n: Json) => n.id === 'h1' && n.status === 'up'),
    );
    // The follower issued h1's certificate; the leader recorded it.
    await until('the leader knows when the certificate h1 got from the follower expires', async () =>
      (await call(a, 'GET', '/api/status')).json.nodes.some((n: Json) => n.id === 'h1' && n.certExpires),
    );

    // Writes sent to the follower reach the leader; the host (on the follower) runs what the leader placed.
    const up = await call(b, 'POST', '/api/modules', endpointModule('hello'));
    expect(up.status, JSON.stringify(up.json)).toBe(201);
    const deployed = await call(b, 'POST', '/api/deploy', { endpoint: 'hello', digest: up.json.digest });
    expect(deployed.status, JSON.stringify(deployed.json)).toBe(200);
    expect(deployed.json.placement).toEqual(['h1']);
    const ready = (cp: RoamProcess, digest: string) => async () =>
      (await call(cp, 'GET', '/api/hosts')).json.nodes.some(
        (n: Json) => n.id === 'h1' && n.ready.includes(`hello@${digest}`),
      );
    await until('h1 runs hello v1 (as the leader sees it)', ready(a, up.json.digest));
    // The host answers /invoke to mesh identities only: the test asks the follower for one, as a node would.
    const invoked = await request(`${host.url.replace('http:', 'https:')}/invoke/hello/`, {
      dispatcher: await meshClient(b, 'test-client'),
    });
    expect(invoked.statusCode).toBe(200);
    await invoked.body.text();
    // The follower serves reads from the mirrored state.
    await until('the follower mirrors hello', async () =>
      (await call(b, 'GET', '/api/endpoints')).json.endpoints.some((e: Json) => e.name === 'hello'),
    );
    // A write the leader answered is in PostgreSQL already: killing the leader right after loses nothing.
    const pricing = await call(a, 'POST', '/api/modules', endpointModule('pricing'));
    expect(pricing.status).toBe(201);
    expect(
      (await call(a, 'POST', '/api/deploy', { endpoint: 'pricing', digest: pricing.json.digest })).status,
    ).toBe(200);
    const before = (await call(a, 'GET', '/api/endpoints')).json.endpoints;
    expect(before.map((e: Json) => e.name)).toEqual(['hello', 'pricing']);

    // The leader dies without releasing the Lease; the follower takes over once it expires.
    await a.stop('SIGKILL');
    await until('cp-b leads', () => leads(b));
    expect(api.leases.get('roam-control-plane').spec.holderIdentity).toBe('cp-b');
    const after = (await call(b, 'GET', '/api/endpoints')).json.endpoints;
    expect(after).toEqual(before);
    const history = (await call(b, 'GET', '/api/history?endpoint=hello')).json.history;
    expect(history.some((h: Json) => h.action === 'deploy')).toBe(true);

    // The new leader changes the state itself, and the host it already served gets the new version.
    const variant = endpointModule('hello');
    const v2bytes = new Uint8Array(variant.length + 6);
    v2bytes.set(variant);
    v2bytes.set([0, 4, 1, 118, 2, 2], variant.length); // a custom section: same code, another digest
    const up2 = await call(b, 'POST', '/api/modules', v2bytes);
    expect(up2.status).toBe(201);
    const v2 = await call(b, 'POST', '/api/deploy', { endpoint: 'hello', digest: up2.json.digest });
    expect(v2.status, JSON.stringify(v2.json)).toBe(200);
    expect(v2.json.version).toBe(2);
    await until('h1 runs hello v2', ready(b, up2.json.digest));

    // A replica started now reads everything from the shared store, modules included.
    const c = await replica('cp-c');
    await until('cp-c mirrors version 2', async () => {
      const eps = (await call(c, 'GET', '/api/endpoints')).json.endpoints;
      const hello = eps.find((e: Json) => e.name === 'hello');
      return eps.length === 2 && hello?.version === 2 && hello.versions.length === 2;
    });
    expect(await leads(c)).toBe(false);
  });
});
