// The node side of issuance: a fresh ECDSA P-256 key pair and a CSR for the node's own SPIFFE name. The private
// key stays in this process. @peculiar/x509 (and the reflect-metadata it needs) is loaded on the first CSR, so a
// sidecar that never meets a control plane with mTLS on never pays for it.
import { KeyObject, webcrypto } from 'node:crypto';

let library: Promise<typeof import('@peculiar/x509')> | undefined;

function x509Library(): Promise<typeof import('@peculiar/x509')> {
  library ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto);
    return x509;
  })();
  return library;
}

/** A key pair (PKCS#8 PEM) and a CSR signed with it that names `nodeId` as its subject CN. */
export async function createCsr(nodeId: string): Promise<{ keyPem: string; csrPem: string }> {
  const x509 = await x509Library();
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [nodeId] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
  return { keyPem, csrPem: csr.toString('pem') };
}
