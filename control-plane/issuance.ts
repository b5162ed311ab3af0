// The control plane's side of mesh identities: the CA it issues from (kept with its state, or the operator's),
// the trust domain, the certificates it gives nodes from their CSRs, and its own serving certificate, renewed
// at half its lifetime. Built only when mTLS is on.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CaMaterial,
  CertificateAuthority,
  checkTrustDomain,
  generateCa,
  generateTrustDomain,
  type Issued,
  type NodeClaims,
} from './ca.ts';
import type { State } from './state.ts';

export const DEFAULT_CERT_TTL_MS = 24 * 3_600_000;

export interface IssuanceOptions {
  /** The operator's CA (`--ca-cert`, `--ca-key`): used as given, its key never stored. */
  ca?: CaMaterial;
  /** Overrides the trust domain generated on first start and kept with the state. */
  trustDomain?: string;
  /** Lifetime of the certificates issued to nodes and to the control plane itself (default 24 h). */
  certTtlMs?: number;
  /**
   * With replicas: makes a setting the same on every replica, the first offer winning (SharedState.settle);
   * without, the setting is simply stored.
   */
  settle?(name: string, value: unknown): Promise<void>;
}

/** Reads `--ca-cert` and `--ca-key` files. */
export function readCaFiles(certFile: string, keyFile: string): CaMaterial {
  return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
}

export class Issuer {
  readonly ca: CertificateAuthority;
  readonly ttlMs: number;
  /** Where the CA's certificate is written for operators and nodes to trust (DATA_DIR/ca.pem). */
  readonly caFile: string;

  private constructor(ca: CertificateAuthority, ttlMs: number, caFile: string) {
    this.ca = ca;
    this.ttlMs = ttlMs;
    this.caFile = caFile;
  }

  /**
   * The CA and trust domain this control plane issues from: generated on first start and kept in the state
   * (replicated to PostgreSQL with the rest, so replicas issue from one CA), or the operator's CA.
   */
  static async open(state: State, options: IssuanceOptions = {}): Promise<Issuer> {
    const settle = options.settle ?? (async (name: string, value: unknown) => state.setSetting(name, value));
    const setting = async <T>(name: string, make: () => Promise<T>): Promise<T> => {
      const kept = state.setting<T>(name);
      if (kept !== undefined) return kept;
      await settle(name, await make());
      return state.setting<T>(name)!;
    };
    const trustDomain = checkTrustDomain(
      options.trustDomain ?? (await setting('trust-domain', async () => generateTrustDomain())),
    );
    const material = options.ca ?? (await setting('mesh-ca', () => generateCa(trustDomain)));
    const ca = await CertificateAuthority.load(material, trustDomain);
    const caFile = join(state.dir, 'ca.pem');
    writeFileSync(caFile, ca.certPem);
    return new Issuer(ca, options.certTtlMs ?? DEFAULT_CERT_TTL_MS, caFile);
  }

  get trustDomain(): string {
    return this.ca.trustDomain;
  }

  issue(csrPem: string, node: NodeClaims): Promise<Issued> {
    return this.ca.issueNode(csrPem, node, this.ttlMs);
  }

  /** The control plane's own certificate for `names` (its listen hosts and `--tls-name`s), renewed as it ages. */
  async serving(names: string[]): Promise<ServingCertificate> {
    const serving = new ServingCertificate(this, names);
    await serving.renew();
    return serving;
  }
}

/** A key and certificate that renew themselves at half their lifetime; listeners swap them in. */
export class ServingCertificate {
  keyPem = '';
  certPem = '';
  notAfter = new Date(0);
  private readonly issuer: Issuer;
  private readonly names: string[];
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(issuer: Issuer, names: string[]) {
    this.issuer = issuer;
    this.names = names;
  }

  async renew(): Promise<void> {
    const next = await this.issuer.ca.issueControlPlane(this.names, this.issuer.ttlMs);
    if (this.closed) return;
    this.keyPem = next.keyPem;
    this.certPem = next.certPem;
    this.notAfter = next.notAfter;
    for (const l of this.listeners) l();
    clearTimeout(this.timer);
    // Signing is local: a failure here is a bug, not an outage, so it is not retried.
    this.timer = setTimeout(() => void this.renew(), Math.max(1000, this.issuer.ttlMs / 2));
    this.timer.unref();
  }

  onRenew(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
