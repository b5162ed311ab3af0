// This process's mesh identity (issue 17): the short-lived X.509 certificate the control plane issued it, with
// a SPIFFE ID in its URI SAN (spiffe://TRUST-DOMAIN/node/ID; tier and site in the subject's OU and L), the
// private key it was made for (generated on this node; it never leaves), and the mesh CA's certificate that
// every peer's certificate is checked against. One per process, like the network map: the discovery client
// installs it and replaces it on rotation; listeners and connectors read it for each new connection, so a
// rotation changes new connections only and no request in flight fails.
import { X509Certificate } from 'node:crypto';
import tls, { type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';

export interface IdentityMaterial {
  keyPem: string;
  certPem: string;
  /** The mesh CA's certificate(s), PEM. */
  caPem: string;
}

/** Who is on the other end of a mutually authenticated connection. */
export interface Peer {
  spiffeId: string;
  nodeId: string;
  tier?: string;
  site?: string;
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/(.+)$/;

/** The SPIFFE ID in a certificate's subjectAltName string ("URI:spiffe://..., DNS:..."), if it has one. */
export function spiffeIdOf(subjectAltName: string | undefined): string | undefined {
  for (const part of (subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('URI:spiffe://')) return part.slice(4);
  }
  return undefined;
}

/** spiffe://TD/node/ID -> { trustDomain, nodeId }; other paths keep the whole path as the id. */
export function parseSpiffeId(id: string): { trustDomain: string; path: string } | undefined {
  const m = SPIFFE.exec(id);
  return m ? { trustDomain: m[1]!, path: m[2]! } : undefined;
}

export class MeshIdentity {
  trustDomain = '';
  spiffeId = '';
  nodeId = '';
  notAfter = new Date(0);
  /** Bumped on every update: connectors rebuild what they cached from the previous material. */
  generation = 0;
  private material!: IdentityMaterial;
  private server!: SecureContext;
  private client!: SecureContext;
  private readonly listeners = new Set<() => void>();

  constructor(material: IdentityMaterial) {
    this.update(material);
  }

  /** Installs a new certificate (and key, and CA bundle): new connections use it from now on. */
  update(material: IdentityMaterial): void {
    const cert = new X509Certificate(material.certPem);
    const id = spiffeIdOf(cert.subjectAltName);
    const parsed = id ? parseSpiffeId(id) : undefined;
    if (!id || !parsed) throw new Error('the mesh certificate carries no SPIFFE ID in its URI SAN');
    const options = { key: material.keyPem, cert: material.certPem, ca: material.caPem };
    this.server = tls.createSecureContext(options);
    this.client = tls.createSecureContext(options);
    this.material = material;
    this.spiffeId = id;
    this.trustDomain = parsed.trustDomain;
    this.nodeId = parsed.path.replace(/^node\//, '');
    this.notAfter = new Date(cert.validTo);
    this.generation++;
    for (const l of this.listeners) l();
  }

  get caPem(): string {
    return this.material.caPem;
  }

  get certPem(): string {
    return this.material.certPem;
  }

  get keyPem(): string {
    return this.material.keyPem;
  }

  /** The context a server side of a mesh connection uses (it asks the client for its certificate). */
  serverContext(): SecureContext {
    return this.server;
  }

  /**
   * TLS options for a client side: this node's certificate, the mesh CA, and the server checked by its SPIFFE
   * ID's trust domain rather than a host name (an X.509-SVID names a workload, not a DNS name).
   */
  clientOptions(): tls.ConnectionOptions {
    return {
      secureContext: this.client,
      checkServerIdentity: (_host, cert) => this.checkPeer(cert),
    };
  }

  /** Undefined if `cert` names a workload of this trust domain, else an Error saying why not. */
  checkPeer(cert: PeerCertificate): Error | undefined {
    const id = spiffeIdOf(cert.subjectaltname);
    if (!id) return new Error('the peer certificate carries no SPIFFE ID');
    if (parseSpiffeId(id)?.trustDomain !== this.trustDomain)
      return new Error(`the peer ${id} is not in trust domain ${this.trustDomain}`);
    return undefined;
  }

  /** Called after each update (rotation). */
  onUpdate(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

let current: MeshIdentity | undefined;

/** The identity this process holds, if the mesh gave it one (mTLS on). */
export function meshIdentity(): MeshIdentity | undefined {
  return current;
}

export function setMeshIdentity(identity: MeshIdentity | undefined): void {
  current = identity;
}

/**
 * The mesh peer on a TLS socket that asked for a client certificate, or why it is not one: no certificate, a
 * certificate the mesh CA did not sign (or expired: the handshake's verdict), or one of another trust domain.
 */
export function peerOf(socket: TLSSocket, identity: MeshIdentity): Peer | { refused: string } {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { refused: 'no client certificate was presented' };
  if (!socket.authorized) {
    const why = String(socket.authorizationError ?? 'not verified');
    return {
      refused:
        why === 'CERT_HAS_EXPIRED'
          ? `the client certificate expired at ${cert.valid_to}`
          : `the client certificate was not issued by this mesh's CA (${why})`,
    };
  }
  const wrong = identity.checkPeer(cert);
  if (wrong) return { refused: wrong.message };
  const spiffeId = spiffeIdOf(cert.subjectaltname)!;
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const tier = one(subject.OU);
  const site = one(subject.L);
  return {
    spiffeId,
    nodeId: parseSpiffeId(spiffeId)!.path.replace(/^node\//, ''),
    ...(tier ? { tier } : {}),
    ...(site ? { site } : {}),
  };
}
