// The mesh's certificate authority (issue 17), run by the control plane: an ECDSA P-256 CA, generated on first
// start or brought by the operator, that signs short-lived node certificates from CSRs (X.509-SVIDs: the SPIFFE
// ID spiffe://TRUST-DOMAIN/node/ID in the one URI SAN) and the control plane's own serving certificate. What a
// certificate names comes from the authenticated node, never from the CSR, which only lends its public key.
import 'reflect-metadata';
import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CA_VALIDITY_MS = 10 * 365 * 24 * 3_600_000;
/** Certificates start a minute back, so a node whose clock lags a little does not see them as not yet valid. */
const SKEW_MS = 60_000;

/** The CA's certificate and private key, PEM (PKCS#8 for the key). */
export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** What the control plane knows of the node that asked, from its token and the claims it subscribes with. */
export interface NodeClaims {
  nodeId: string;
  tier: string;
  site: string;
}

export interface Issued {
  certPem: string;
  notAfter: Date;
  spiffeId: string;
}

/** A trust domain of SPIFFE's characters (lower-case letters, digits, '.', '-', '_'), e.g. roam-1a2b3c4d.local. */
export function generateTrustDomain(): string {
  return `roam-${randomBytes(4).toString('hex')}.local`;
}

export function checkTrustDomain(td: string): string {
  if (!/^[a-z0-9._-]{1,255}$/.test(td))
    throw new Error(
      `trust domain "${td}" is not valid: SPIFFE allows lower-case letters, digits, ".", "-" and "_"`,
    );
  return td;
}

export const nodeSpiffeId = (trustDomain: string, nodeId: string) => `spiffe://${trustDomain}/node/${nodeId}`;
export const controlPlaneSpiffeId = (trustDomain: string) => `spiffe://${trustDomain}/control-plane`;

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

function exportKey(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** A new CA: ECDSA P-256, valid for ten years, named after the trust domain. */
export async function generateCa(trustDomain: string): Promise<CaMaterial> {
  const keys = await generateKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=roam mesh CA ${trustDomain}, O=roam`,
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + CA_VALIDITY_MS),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: exportKey(keys.privateKey) };
}

function randomSerial(): string {
  // Positive (top bit clear) and 16 bytes, as CA/B Forum practice asks of serials.
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly certPem: string;
  private readonly cert: x509.X509Certificate;
  private readonly signingKey: webcrypto.CryptoKey;

  private constructor(
    trustDomain: string,
    certPem: string,
    cert: x509.X509Certificate,
    key: webcrypto.CryptoKey,
  ) {
    this.trustDomain = trustDomain;
    this.certPem = certPem;
    this.cert = cert;
    this.signingKey = key;
  }

  /** Loads a CA (generated, or the operator's): the key must be an EC or RSA key matching the certificate. */
  static async load(material: CaMaterial, trustDomain: string): Promise<CertificateAuthority> {
    checkTrustDomain(trustDomain);
    const check = new X509Certificate(material.certPem);
    if (!check.ca) throw new Error('the CA certificate is not a CA (basicConstraints CA:TRUE is missing)');
    const keyObject = createPrivateKey(material.keyPem);
    if (!check.checkPrivateKey(keyObject)) throw new Error('the CA key does not match the CA certificate');
    const pkcs8 = keyObject.export({ type: 'pkcs8', format: 'der' });
    const details = keyObject.asymmetricKeyDetails;
    const algorithm =
      keyObject.asymmetricKeyType === 'ec'
        ? { name: 'ECDSA', namedCurve: curveName(details?.namedCurve) }
        : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
    const cert = new x509.X509Certificate(material.certPem);
    // The first certificate of the file is the one that issues; the whole file is the bundle nodes trust.
    return new CertificateAuthority(trustDomain, material.certPem, cert, key);
  }

  private signingAlgorithm(): webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams {
    return this.signingKey.algorithm.name === 'ECDSA'
      ? SIGNING
      : ({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as webcrypto.AlgorithmIdentifier);
  }

  /**
   * A node certificate for `node` with the public key of `csrPem`, valid for `ttlMs`. The CSR's signature must
   * verify (its sender holds the key), and a CSR that names another node (subject CN or SAN) is refused.
   */
  async issueNode(csrPem: string, node: NodeClaims, ttlMs: number): Promise<Issued> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new InvalidCsrError(
        `the certificate signing request is not a PEM PKCS#10 CSR: ${(err as Error).message}`,
      );
    }
    // A CSR mangled badly enough makes the verifier throw rather than answer false: the same verdict.
    const verified = await csr.verify().catch(() => false);
    if (!verified) throw new InvalidCsrError('the certificate signing request has a bad signature');
    const spiffeId = nodeSpiffeId(this.trustDomain, node.nodeId);
    for (const cn of csr.subjectName.getField('CN')) {
      if (cn !== node.nodeId)
        throw new CsrRefusedError(`the CSR names node "${cn}", but the node token is for "${node.nodeId}"`);
    }
    const san = csr.getExtension('2.5.29.17');
    const names = san instanceof x509.SubjectAlternativeNameExtension ? san.names.items : [];
    for (const name of names) {
      if (name.type !== 'url' || name.value !== spiffeId)
        throw new CsrRefusedError(
          `the CSR asks for ${name.type === 'url' ? name.value : `${name.type}:${name.value}`}, but the node token is for ${spiffeId}`,
        );
    }
    const cert = await this.sign({
      subject: `CN=${escapeRdn(node.nodeId)}, OU=${escapeRdn(node.tier)}, L=${escapeRdn(node.site)}, O=roam`,
      publicKey: csr.publicKey,
      names: [{ type: 'url', value: spiffeId }],
      ttlMs,
    });
    return { certPem: cert.toString('pem'), notAfter: cert.notAfter, spiffeId };
  }

  /**
   * The control plane's own certificate (spiffe://TD/control-plane, plus the DNS names and addresses nodes and
   * the CLI dial it by), with a fresh key.
   */
  async issueControlPlane(
    names: string[],
    ttlMs: number,
  ): Promise<{ certPem: string; keyPem: string; notAfter: Date }> {
    const keys = await generateKeys();
    const general: x509.JsonGeneralName[] = [{ type: 'url', value: controlPlaneSpiffeId(this.trustDomain) }];
    for (const n of new Set(['localhost', '127.0.0.1', '::1', ...names])) {
      if (n === '' || n === '0.0.0.0' || n === '::') continue;
      general.push({ type: isIP(n) ? 'ip' : 'dns', value: n });
    }
    const cert = await this.sign({
      subject: 'CN=roam control plane, O=roam',
      publicKey: keys.publicKey,
      names: general,
      ttlMs,
    });
    return { certPem: cert.toString('pem'), keyPem: exportKey(keys.privateKey), notAfter: cert.notAfter };
  }

  private async sign(p: {
    subject: string;
    publicKey: x509.PublicKey | webcrypto.CryptoKey;
    names: x509.JsonGeneralName[];
    ttlMs: number;
  }): Promise<x509.X509Certificate> {
    const now = Date.now();
    const publicKey = p.publicKey instanceof x509.PublicKey ? await p.publicKey.export() : p.publicKey;
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: p.subject,
      issuer: this.cert.subject,
      notBefore: new Date(now - SKEW_MS),
      // Never past the CA's own end: a chain is only as valid as its issuer.
      notAfter: new Date(Math.min(now + p.ttlMs, this.cert.notAfter.getTime())),
      publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: this.signingAlgorithm(),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([
          x509.ExtendedKeyUsage.serverAuth,
          x509.ExtendedKeyUsage.clientAuth,
        ]),
        new x509.SubjectAlternativeNameExtension(p.names, true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
  }
}

function curveName(nodeCurve: string | undefined): string {
  if (nodeCurve === 'prime256v1') return 'P-256';
  if (nodeCurve === 'secp384r1') return 'P-384';
  if (nodeCurve === 'secp521r1') return 'P-521';
  throw new Error(`the CA key's curve ${nodeCurve} is not one WebCrypto signs with (P-256, P-384, P-521)`);
}

/** Node ids, tiers and sites are names (core/names.ts), but a ',' or '=' must not open a new attribute. */
function escapeRdn(value: string): string {
  return value.replace(/[,=+<>#;"\\]/g, '\\$&');
}

/** A CSR that is not one, or whose signature does not verify (gRPC INVALID_ARGUMENT). */
export class InvalidCsrError extends Error {}

/** A CSR for a name the asking node does not hold (gRPC PERMISSION_DENIED). */
export class CsrRefusedError extends Error {}
