// Mesh identities over the real control channel (issue 17): gRPC over TLS on loopback, a control plane acting
// as the mesh CA, and discovery clients as proxies and hosts run them. A node gets its certificate before it
// subscribes and a new one (new key) before the first expires; it cannot get one for another node; a node
// without the CA, or with the wrong one, says in one line what to pass; with mTLS off it goes on in plaintext.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MeshIdentity } from '../../core/mesh-identity.ts';
import { until } from '../../test/support/control-plane.ts';
import { nodeToken } from '../auth.ts';
import { generateCa } from '../ca.ts';
import { DiscoveryClient } from '../client.ts';
import { ControlPlane } from '../control-plane.ts';
import { createCsr } from '../csr.ts';
import { startDiscoveryServer } from '../discovery-service.ts';
import { Issuer, type ServingCertificate } from '../issuance.ts';
import { Discovery, type IssuedCertificateMsg } from '../proto.ts';

const dirs: string[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Started {
  cp: ControlPlane;
  address: string;
  dataDir: string;
}

/** A control plane on loopback: with `certTtlMs`, mTLS on (gRPC over TLS, the CA issuing); without, plaintext. */
async function controlPlane(certTtlMs?: number): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'roam-identity-'));
  dirs.push(dataDir);
  const cp = new ControlPlane({ dataDir });
  let serving: ServingCertificate | undefined;
  if (certTtlMs) {
    cp.issuer = await Issuer.open(cp.state, { certTtlMs });
    serving = await cp.issuer.serving(['127.0.0.1']);
  }
  const { server, port } = await startDiscoveryServer(cp, '127.0.0.1', 0, serving);
  cleanups.push(() => {
    server.forceShutdown();
    serving?.close();
    cp.close();
  });
  return { cp, address: `127.0.0.1:${port}`, dataDir };
}

function node(
  started: Started,
  id: string,
  options: { caFile?: string; log?: Record<string, unknown>[] } = {},
): DiscoveryClient {
  const client = new DiscoveryClient({
    address: started.address,
    token: nodeToken(started.cp.state.secret(), id),
    node: {
      nodeId: id,
      kind: 'host',
      tier: 'edge',
      location: 'paris',
      address: 'http://127.0.0.1:1',
      cpuMillis: 1000,
      memoryMib: 256,
      capabilities: [],
      stores: [],
    },
    apply: async () => ({ ready: [] }),
    ...(options.caFile ? { caFile: options.caFile } : {}),
    // Several nodes share this process: each keeps its identity to itself.
    processIdentity: false,
    ...(options.log ? { log: (e: Record<string, unknown>) => void options.log!.push(e) } : {}),
  });
  cleanups.push(() => client.close());
  client.start();
  return client;
}

describe('mesh identities over the control channel', () => {
  it('a node gets a certificate for itself over TLS before it subscribes, and roam status shows its expiry', async () => {
    const started = await controlPlane(3_600_000);
    const td = started.cp.issuer!.trustDomain;
    const subscribedBefore: boolean[] = [];
    const client = node(started, 'h1', { caFile: started.cp.issuer!.caFile });
    client.identityReady.then(() => subscribedBefore.push(started.cp.state.node('h1') !== undefined));
    const identity = (await client.identityReady)!;
    expect(subscribedBefore).toEqual([false]);
    expect(identity.spiffeId).toBe(`spiffe://${td}/node/h1`);
    expect(identity.nodeId).toBe('h1');
    expect(identity.caPem).toBe(started.cp.issuer!.ca.certPem);
    const cert = new X509Certificate(identity.certPem);
    expect(cert.subject.split('\n')).toEqual(['CN=h1', 'OU=edge', 'L=paris', 'O=roam']);
    expect(
      cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(identity.keyPem))),
    ).toBe(true);
    await until('h1 subscribed', async () => client.connected);
    const status = started.cp.status().find((n) => n.id === 'h1')!;
    expect(status.certExpires).toBe(identity.notAfter.toISOString());
  });

  it('refuses a certificate for another node: the token names the node, not the request or the CSR', async () => {
    const started = await controlPlane(3_600_000);
    const grpcClient = new Discovery(
      started.address,
      grpc.credentials.createSsl(Buffer.from(started.cp.issuer!.ca.certPem), null, null, {
        checkServerIdentity: () => undefined,
      }),
      { 'grpc.ssl_target_name_override': 'roam-control-plane' },
    ) as unknown as {
      IssueCertificate(
        req: unknown,
        md: grpc.Metadata,
        cb: (err: grpc.ServiceError | null, res?: IssuedCertificateMsg) => void,
      ): void;
      close(): void;
    };
    cleanups.push(() => grpcClient.close());
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${nodeToken(started.cp.state.secret(), 'a')}`);
    const ask = (nodeId: string, csr: string) =>
      new Promise<grpc.ServiceError | IssuedCertificateMsg>((resolve) =>
        grpcClient.IssueCertificate(
          { csr, node: { nodeId, kind: 'host', tier: 'cluster', location: 'x' } },
          metadata,
          (err, res) => resolve(err ?? res!),
        ),
      );
    const forB = (await createCsr('b')).csrPem;
    const csrForB = (await ask('a', forB)) as grpc.ServiceError;
    expect(csrForB.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(csrForB.details).toBe('the CSR names node "b", but the node token is for "a"');
    const requestForB = (await ask('b', forB)) as grpc.ServiceError;
    expect(requestForB.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(requestForB.details).toBe('token is for node "a", not "b"');
    const own = (await ask('a', (await createCsr('a')).csrPem)) as IssuedCertificateMsg;
    expect(new X509Certificate(own.certificateChain).subjectAltName).toBe(
      `URI:spiffe://${started.cp.issuer!.trustDomain}/node/a`,
    );
    expect(started.cp.state.certificateExpiries().has('b')).toBe(false);
  });

  it('renews with a new key at half the lifetime, before the certificate expires', async () => {
    const started = await controlPlane(4000);
    const client = node(started, 'h1', { caFile: started.cp.issuer!.caFile });
    const identity: MeshIdentity = (await client.identityReady)!;
    const first = { cert: identity.certPem, key: identity.keyPem, notAfter: identity.notAfter };
    const renewals: { at: number; cert: string; key: string; notAfter: Date }[] = [];
    identity.onUpdate(() =>
      renewals.push({
        at: Date.now(),
        cert: identity.certPem,
        key: identity.keyPem,
        notAfter: identity.notAfter,
      }),
    );
    await until('a renewal', async () => renewals.length > 0);
    const renewed = renewals[0]!;
    // X.509 times have a resolution of a second: compare against the first certificate's last whole second.
    expect(renewed.at).toBeLessThan(first.notAfter.getTime());
    expect(renewed.cert).not.toBe(first.cert);
    expect(renewed.key).not.toBe(first.key);
    expect(renewed.notAfter.getTime()).toBeGreaterThan(first.notAfter.getTime());
    const ca = new X509Certificate(started.cp.issuer!.ca.certPem);
    expect(new X509Certificate(renewed.cert).verify(ca.publicKey)).toBe(true);
  });

  it('a node without --ca, or with the wrong CA, says in one line what to pass', async () => {
    const started = await controlPlane(3_600_000);
    const noCa: Record<string, unknown>[] = [];
    node(started, 'p1', { log: noCa });
    const wrongCaFile = join(started.dataDir, 'other-ca.pem');
    writeFileSync(wrongCaFile, (await generateCa('other.local')).certPem);
    const wrongCa: Record<string, unknown>[] = [];
    node(started, 'p2', { caFile: wrongCaFile, log: wrongCa });
    const said = (log: Record<string, unknown>[]) => log.filter((e) => e.event === 'control-plane-tls');
    await until('both explained', async () => said(noCa).length > 0 && said(wrongCa).length > 0);
    expect(said(noCa)[0]!.message).toBe(
      `the control plane at ${started.address} speaks TLS (mTLS is on) and this node has no CA to check it with: pass --ca FILE (the control plane's DATA_DIR/ca.pem) or set $ROAM_CA`,
    );
    expect(said(wrongCa)[0]!.message).toMatch(
      new RegExp(
        `^the control plane at ${started.address} did not prove itself with the CA in --ca ${wrongCaFile} \\(.*certificate.*\\): pass the CA it uses \\(its DATA_DIR/ca.pem\\)$`,
      ),
    );
    // Said once, however often the node retries.
    await until('a few retries', async () => noCa.filter((e) => e.event === 'disconnected').length >= 3);
    expect(said(noCa)).toHaveLength(1);
    expect(said(wrongCa)).toHaveLength(1);
    expect(started.cp.state.nodes()).toEqual([]);
  });

  it('with mTLS off the node is told so and goes on in plaintext', async () => {
    const started = await controlPlane();
    const log: Record<string, unknown>[] = [];
    const client = node(started, 'h1', { log });
    expect(await client.identityReady).toBeUndefined();
    await until('h1 subscribed', async () => client.connected);
    expect(log.find((e) => e.event === 'plaintext')?.reason).toBe('mTLS is off on this control plane');
    expect(started.cp.status()[0]!.certExpires).toBeNull();
  });
});
