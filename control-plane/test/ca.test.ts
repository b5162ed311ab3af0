// The mesh CA (issue 17): what a node certificate says and who may get one, that the CA and trust domain outlive
// a restart, the operator's own CA, and that replicas sharing state through PostgreSQL issue from one CA.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { needs } from '../../test/support/system.ts';
import { CsrRefusedError, InvalidCsrError } from '../ca.ts';
import { ControlPlane } from '../control-plane.ts';
import { createCsr } from '../csr.ts';
import { Issuer, readCaFiles } from '../issuance.ts';
import { ReplicatedControlPlane } from '../replica.ts';
import { postgresInstalled, startPostgres } from './postgres.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'roam-ca-'));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function withMtls(dataDir: string, options: Parameters<typeof Issuer.open>[1] = {}) {
  const cp = new ControlPlane({ dataDir });
  cp.issuer = await Issuer.open(cp.state, options);
  return cp;
}

const request = (nodeId: string, csr: string, tier = 'edge', location = 'paris') => ({
  csr,
  node: { nodeId, kind: 'host', tier, location },
});

/** openssl req's flags for a new, unencrypted ECDSA P-256 key. */
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CSR for `nodeId` with whatever subjectAltName `san` says, made with the openssl CLI. */
function opensslCsr(subject: string, san?: string): string {
  const dir = tempDir();
  execFileSync('openssl', [
    'req',
    '-new',
    ...EC_KEY,
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'csr.pem'),
    '-subj',
    subject,
    ...(san ? ['-addext', `subjectAltName=${san}`] : []),
  ]);
  return readFileSync(join(dir, 'csr.pem'), 'utf8');
}

describe('the mesh CA', () => {
  it("issues a node certificate naming the node its token proves, from the node's CSR", async () => {
    const cp = await withMtls(tempDir(), { certTtlMs: 3_600_000 });
    try {
      const td = cp.issuer!.trustDomain;
      expect(td).toMatch(/^roam-[0-9a-f]{8}\.local$/);
      const { csrPem } = await createCsr('h1');
      const before = Date.now();
      const issued = (await cp.issueCertificate('h1', request('h1', csrPem)))!;
      const cert = new X509Certificate(issued.certPem);
      const ca = new X509Certificate(readFileSync(cp.issuer!.caFile, 'utf8'));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.subjectAltName).toBe(`URI:spiffe://${td}/node/h1`);
      expect(cert.subject.split('\n')).toEqual(['CN=h1', 'OU=edge', 'L=paris', 'O=roam']);
      expect(cert.ca).toBe(false);
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      // A minute back for clock skew; the lifetime asked for.
      expect(Date.parse(cert.validFrom)).toBeLessThanOrEqual(before - 59_000);
      expect(Date.parse(cert.validTo) - before).toBeGreaterThan(3_590_000);
      expect(Date.parse(cert.validTo) - before).toBeLessThanOrEqual(3_600_000);
      // The CA is ECDSA P-256 for ten years, and the expiry shows in the node's status once it subscribed.
      expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(Date.parse(ca.validTo) - Date.now()).toBeGreaterThan(9.9 * 365 * 86_400_000);
      expect(cp.state.certificateExpiries().get('h1')).toBe(issued.notAfter.getTime());
    } finally {
      cp.close();
    }
  });

  it('refuses a CSR that names another node, or whose signature does not verify', async () => {
    const cp = await withMtls(tempDir());
    try {
      const td = cp.issuer!.trustDomain;
      const forB = (await createCsr('b')).csrPem;
      await expect(cp.issueCertificate('a', request('a', forB))).rejects.toThrow(CsrRefusedError);
      await expect(cp.issueCertificate('a', request('a', forB))).rejects.toThrow(
        'the CSR names node "b", but the node token is for "a"',
      );
      const sanForB = opensslCsr('/O=roam', `URI:spiffe://${td}/node/b`);
      await expect(cp.issueCertificate('a', request('a', sanForB))).rejects.toThrow(
        `the CSR asks for spiffe://${td}/node/b, but the node token is for spiffe://${td}/node/a`,
      );
      const dns = opensslCsr('/CN=a', 'DNS:evil.example');
      await expect(cp.issueCertificate('a', request('a', dns))).rejects.toThrow(CsrRefusedError);
      // Its own name in the SAN is fine, and so is no subject at all: only the key is taken from a CSR.
      const own = opensslCsr('/O=whatever', `URI:spiffe://${td}/node/a`);
      const issued = (await cp.issueCertificate('a', request('a', own)))!;
      expect(new X509Certificate(issued.certPem).subject).toContain('O=roam');
      // The subject's CN changed from b to c after signing: the signature no longer verifies.
      const der = Buffer.from(forB.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
      const cn = der.indexOf(Buffer.from([0x0c, 0x01, 0x62]));
      der[cn + 2] = 0x63;
      const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      await expect(cp.issueCertificate('c', request('c', tampered))).rejects.toThrow(InvalidCsrError);
    } finally {
      cp.close();
    }
  });

  it('keeps its CA and trust domain across a restart: certificates issued before still verify', async () => {
    const dataDir = tempDir();
    const first = await withMtls(dataDir);
    const caBefore = first.issuer!.ca.certPem;
    const td = first.issuer!.trustDomain;
    const old = (await first.issueCertificate('h1', request('h1', (await createCsr('h1')).csrPem)))!;
    first.close();

    const second = await withMtls(dataDir);
    try {
      expect(second.issuer!.ca.certPem).toBe(caBefore);
      expect(second.issuer!.trustDomain).toBe(td);
      expect(readFileSync(join(dataDir, 'ca.pem'), 'utf8')).toBe(caBefore);
      const ca = new X509Certificate(second.issuer!.ca.certPem);
      expect(new X509Certificate(old.certPem).verify(ca.publicKey)).toBe(true);
    } finally {
      second.close();
    }
    // --trust-domain overrides the generated one; the CA stays.
    const third = await withMtls(dataDir, { trustDomain: 'prod.example.org' });
    try {
      const issued = (await third.issueCertificate('h1', request('h1', (await createCsr('h1')).csrPem)))!;
      expect(issued.spiffeId).toBe('spiffe://prod.example.org/node/h1');
      expect(third.issuer!.ca.certPem).toBe(caBefore);
    } finally {
      third.close();
    }
  });

  it("issues from the operator's own CA and stores nothing of its key", async () => {
    const dir = tempDir();
    execFileSync('openssl', [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.crt'),
      '-days',
      '30',
      '-subj',
      '/CN=Operator Root CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    const dataDir = tempDir();
    const cp = await withMtls(dataDir, { ca: readCaFiles(join(dir, 'ca.crt'), join(dir, 'ca.key')) });
    try {
      const issued = (await cp.issueCertificate('p1', request('p1', (await createCsr('p1')).csrPem)))!;
      const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
      const cert = new X509Certificate(issued.certPem);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.issuer).toBe('CN=Operator Root CA');
      expect(readFileSync(join(dataDir, 'ca.pem'), 'utf8')).toBe(readFileSync(join(dir, 'ca.crt'), 'utf8'));
      expect(cp.state.setting('mesh-ca')).toBeUndefined();
      const key = readFileSync(join(dir, 'ca.key'), 'utf8').split('\n')[1]!;
      expect(readFileSync(join(dataDir, 'roam.db')).includes(key)).toBe(false);
      // A key that is not the certificate's is refused with the reason.
      const other = tempDir();
      execFileSync('openssl', [
        'ecparam',
        '-name',
        'prime256v1',
        '-genkey',
        '-noout',
        '-out',
        join(other, 'k'),
      ]);
      await expect(
        Issuer.open(cp.state, { ca: readCaFiles(join(dir, 'ca.crt'), join(other, 'k')) }),
      ).rejects.toThrow('the CA key does not match the CA certificate');
    } finally {
      cp.close();
    }
  });
});

const wanted = needs('postgresql', postgresInstalled(), 'apt-get install postgresql');

describe.runIf(wanted)('replicas sharing state', () => {
  it('issue from one CA, and the leader records what a follower issued', async () => {
    const pg = await startPostgres();
    const replicas: ReplicatedControlPlane[] = [];
    try {
      const replica = async (id: string, leads: boolean) => {
        const r = new ReplicatedControlPlane({
          dataDir: tempDir(),
          stateUrl: pg.url,
          replicaId: id,
          elector: { isLeader: () => leads, leaderAdminUrl: () => undefined },
          syncIntervalMs: 50,
        });
        replicas.push(r);
        await r.start();
        return r;
      };
      const mtls = async (r: ReplicatedControlPlane) => {
        r.issuer = await Issuer.open(r.state, { settle: (name, value) => r.shared.settle(name, value) });
        return r;
      };
      const a = await replica('cp-a', true);
      const b = await replica('cp-b', false);
      // Both set up their CA at once, on an empty store: the first offer wins and both hold it.
      await Promise.all([mtls(a), mtls(b)]);
      expect(b.issuer!.ca.certPem).toBe(a.issuer!.ca.certPem);
      expect(b.issuer!.trustDomain).toBe(a.issuer!.trustDomain);

      const issued = (await b.issueCertificate('h1', request('h1', (await createCsr('h1')).csrPem)))!;
      const ca = new X509Certificate(a.issuer!.ca.certPem);
      expect(new X509Certificate(issued.certPem).verify(ca.publicKey)).toBe(true);
      const deadline = Date.now() + 10_000;
      while (a.state.certificateExpiries().get('h1') === undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(a.state.certificateExpiries().get('h1')).toBe(issued.notAfter.getTime());

      // A replica that joins later (a new pod, an empty disk) gets the same CA from the shared store.
      const c = await mtls(await replica('cp-c', false));
      expect(c.issuer!.ca.certPem).toBe(a.issuer!.ca.certPem);
    } finally {
      for (const r of replicas) await r.stop();
      pg.stop();
    }
  });
});
