// A certificate authority for tests at the TLS edge: mints mesh CAs and node certificates shaped as the control
// plane issues them (SPIFFE ID in the URI SAN; tier and site in OU and L), plus the wrong ones a test needs
// (expired, from another CA, of another trust domain), with @peculiar/x509 over WebCrypto.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { IdentityMaterial } from '../../core/mesh-identity.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;
let serial = 1;

export interface TestCa {
  trustDomain: string;
  certPem: string;
  keys: CryptoKeyPair;
  cert: x509.X509Certificate;
}

export async function makeCa(trustDomain: string): Promise<TestCa> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: `CN=${trustDomain} test CA, O=roam`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { trustDomain, certPem: cert.toString('pem'), keys, cert };
}

export interface NodeCertOptions {
  nodeId: string;
  tier?: string;
  site?: string;
  /** Default: now - 1 min .. now + 1 day. */
  notBefore?: Date;
  notAfter?: Date;
  /** Another trust domain in the SPIFFE ID than the CA's. */
  trustDomain?: string;
}

/** A node's key and certificate, with the CA's certificate as its bundle. */
export async function issue(ca: TestCa, o: NodeCertOptions): Promise<IdentityMaterial> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spiffe = `spiffe://${o.trustDomain ?? ca.trustDomain}/node/${o.nodeId}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    subject: `CN=${o.nodeId}, OU=${o.tier ?? 'cluster'}, L=${o.site ?? 'local'}, O=roam`,
    issuer: ca.cert.subject,
    notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: o.notAfter ?? new Date(Date.now() + DAY),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffe }], true),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return { keyPem, certPem: cert.toString('pem'), caPem: ca.certPem };
}
