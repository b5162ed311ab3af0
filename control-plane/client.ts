// The node side of the discovery stream, shared by proxies and hosts: subscribe, apply each snapshot through
// the node's own callback, ACK what was applied (or NACK with the reason and keep the last good snapshot),
// send heartbeats, and resubscribe with backoff whenever the stream ends. Between streams the node keeps
// serving what it applied last (static stability). Before its first subscribe the node gets its mesh
// certificate (a CSR for a key it generates and keeps; core/mesh-identity.ts) and renews it at half its
// lifetime; against a control plane with mTLS on, the channel is TLS, checked against the mesh CA.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { toRoamError } from '../core/errors.ts';
import { MeshIdentity, parseSpiffeId, setMeshIdentity, spiffeIdOf } from '../core/mesh-identity.ts';
import {
  type CertificateRequestMsg,
  Discovery,
  type IssuedCertificateMsg,
  type NodeMessage,
  type ReportAckMsg,
  type ReportBatchMsg,
  type SnapshotMsg,
  type SubscribeMsg,
} from './proto.ts';

export interface ApplyResult {
  /** For hosts: endpoint@digest pairs active and warm after applying. */
  ready?: string[];
}

export interface DiscoveryClientOptions {
  /** The control plane's gRPC address, HOST:PORT. */
  address: string;
  /**
   * The node's credential: a node token, or a function read before each call (a token file: kubelet rotates a
   * pod's projected service-account token, so every connect, renewal and fetch presents the current one).
   */
  token: string | (() => string);
  node: Omit<SubscribeMsg, 'appliedVersion' | 'ready'>;
  apply(snapshot: SnapshotMsg): Promise<ApplyResult>;
  /** Load figures for heartbeats. */
  load?(): { inFlight: number; cpuMillis: number; memoryMib: number };
  heartbeatMs?: number;
  log?(event: Record<string, unknown>): void;
  /** Measurements streamed on the Report rpc while connected (the profiler); none without it. */
  report?: Reporting;
  /**
   * The mesh CA's certificate file (`--ca`, $ROAM_CA): the control plane is dialled over TLS and must present
   * a certificate this CA signed for spiffe://TRUST-DOMAIN/control-plane. Without it, plaintext.
   */
  caFile?: string;
  /**
   * Install the certificate as this process's mesh identity (meshIdentity(), read by listeners and
   * connectors); default true. Tests running several nodes in one process turn it off and read `identity`.
   */
  processIdentity?: boolean;
  /**
   * Default true. False: the node takes only its mesh certificate (and its renewals) from the control plane,
   * never subscribes to snapshots, and is no placement target: a host that only serves data stores.
   */
  subscribe?: boolean;
}

export interface Reporting {
  /** Everything measured since the previous batch. */
  batch(nodeId: string): ReportBatchMsg;
  /** The other nodes the control plane names in its acks, for network probes. */
  peers?(peers: ReportAckMsg['peers']): void;
  /** Time between batches (default 5000 ms). */
  intervalMs?: number;
}

type GrpcClient = grpc.Client & {
  Stream(metadata: grpc.Metadata): grpc.ClientDuplexStream<NodeMessage, SnapshotMsg>;
  Report(metadata: grpc.Metadata): grpc.ClientDuplexStream<ReportBatchMsg, ReportAckMsg>;
  FetchModule(
    req: { digest: string },
    metadata: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: { module: Buffer }) => void,
  ): void;
  IssueCertificate(
    req: CertificateRequestMsg,
    metadata: grpc.Metadata,
    cb: (err: grpc.ServiceError | null, res?: IssuedCertificateMsg) => void,
  ): void;
};

/** The control plane's certificate must name it (an X.509-SVID names a workload, not the host dialled). */
function checkControlPlane(_host: string, cert: { subjectaltname?: string }): Error | undefined {
  const id = spiffeIdOf(cert.subjectaltname);
  if (id && parseSpiffeId(id)?.path === 'control-plane') return undefined;
  return new Error(`the server's certificate names ${id ?? 'no SPIFFE ID'}, not spiffe://.../control-plane`);
}

const RENEW_RETRY_MAX_MS = 30_000;

export class DiscoveryClient {
  private readonly options: DiscoveryClientOptions;
  private readonly client: GrpcClient;
  private stream: grpc.ClientDuplexStream<NodeMessage, SnapshotMsg> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private reports: grpc.ClientDuplexStream<ReportBatchMsg, ReportAckMsg> | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private closed = false;
  /** Snapshots are applied one at a time, in order. */
  private applying: Promise<void> = Promise.resolve();
  appliedVersion = 0;
  /** What the last applied snapshot left running, sent again on every subscribe. */
  private ready: string[] = [];
  connected = false;
  /** This node's mesh identity once the control plane issued one (mTLS on). */
  identity: MeshIdentity | undefined;
  /**
   * Settles once the node knows how it stands: with its first certificate installed, or undefined when the
   * control plane has mTLS off (the node goes on in plaintext).
   */
  readonly identityReady: Promise<MeshIdentity | undefined>;
  private settleIdentity!: (identity: MeshIdentity | undefined) => void;
  private identitySettled = false;
  private renewal: NodeJS.Timeout | undefined;
  private renewRetryMs = 1000;
  /** Problems with the channel's TLS already logged: each is said once, not at every retry. */
  private readonly explained = new Set<string>();

  constructor(options: DiscoveryClientOptions) {
    this.options = options;
    this.identityReady = new Promise((resolve) => {
      this.settleIdentity = resolve;
    });
    const credentials = options.caFile
      ? grpc.credentials.createSsl(readFileSync(options.caFile), null, null, {
          checkServerIdentity: checkControlPlane,
        })
      : grpc.credentials.createInsecure();
    this.client = new Discovery(options.address, credentials, {
      'grpc.keepalive_time_ms': 10_000,
      // The name sent in SNI: the address may be an IP, which SNI does not carry (and Node warns about).
      ...(options.caFile ? { 'grpc.ssl_target_name_override': 'roam-control-plane' } : {}),
    }) as unknown as GrpcClient;
  }

  start(): void {
    this.connect();
  }

  /** Call metadata with the credential as it is now; throws when a token file cannot be read. */
  private metadata(): grpc.Metadata {
    const token = this.options.token;
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${typeof token === 'string' ? token : token()}`);
    return metadata;
  }

  private log(event: Record<string, unknown>): void {
    this.options.log?.({ component: 'discovery', node: this.options.node.nodeId, ...event });
  }

  private connect(): void {
    if (this.closed) return;
    if (!this.identitySettled) {
      this.obtainIdentity().then(
        () => this.connect(),
        (err: Error) => this.retryLater(err),
      );
      return;
    }
    if (this.options.subscribe === false) return;
    let metadata: grpc.Metadata;
    try {
      metadata = this.metadata();
    } catch (err) {
      this.retryLater(err as Error);
      return;
    }
    const stream = this.client.Stream(metadata);
    this.stream = stream;
    stream.write({
      subscribe: { ...this.options.node, appliedVersion: this.appliedVersion, ready: this.ready },
    });
    stream.on('data', (snapshot: SnapshotMsg) => {
      if (!this.connected) this.log({ event: 'connected' });
      this.connected = true;
      this.startReports();
      this.backoffMs = 100;
      this.applying = this.applying.then(() => this.applySnapshot(stream, snapshot));
    });
    const lost = (err?: Error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.connected = false;
      clearInterval(this.heartbeat);
      this.stopReports();
      this.retryLater(err);
    };
    stream.on('error', lost);
    stream.on('end', () => lost());
    const every = this.options.heartbeatMs ?? 1000;
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      const load = this.options.load?.() ?? { inFlight: 0, cpuMillis: 0, memoryMib: 0 };
      stream.write({ heartbeat: load });
    }, every);
    this.heartbeat.unref();
  }

  private retryLater(err?: Error): void {
    if (this.closed) return;
    if (err) this.explain(err);
    this.log({ event: 'disconnected', reason: err?.message ?? 'stream ended', retryInMs: this.backoffMs });
    // Jittered exponential backoff, capped low: a restarted control plane should see its nodes back soon.
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), this.backoffMs * (0.5 + Math.random() / 2));
    this.backoffMs = Math.min(this.backoffMs * 2, 2000);
  }

  /**
   * A channel that cannot work as configured (a TLS control plane dialled in plaintext, the wrong CA) looks
   * like an unreachable control plane at the gRPC level: says once, in one line, what to pass instead.
   */
  private explain(err: Error): void {
    const at = this.options.address;
    const say = (key: string, message: string) => {
      if (this.explained.has(key)) return;
      this.explained.add(key);
      this.log({ event: 'control-plane-tls', level: 'error', message });
    };
    const details = (err as grpc.ServiceError).details ?? err.message;
    if (this.options.caFile) {
      if (/certificate|spiffe/i.test(details))
        say(
          'wrong-ca',
          `the control plane at ${at} did not prove itself with the CA in --ca ${this.options.caFile} (${details}): pass the CA it uses (its DATA_DIR/ca.pem)`,
        );
      else if (/wrong version number|packet length|SSL|TLS/i.test(details))
        say(
          'plaintext',
          `the control plane at ${at} does not speak TLS (is it running with --mtls off?): drop --ca and $ROAM_CA, or turn mTLS on there`,
        );
      return;
    }
    if ((err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || this.explained.has('no-ca')) return;
    void speaksTls(at).then((tls) => {
      if (tls)
        say(
          'no-ca',
          `the control plane at ${at} speaks TLS (mTLS is on) and this node has no CA to check it with: pass --ca FILE (the control plane's DATA_DIR/ca.pem) or set $ROAM_CA`,
        );
    });
  }

  /** A key pair and CSR, the certificate for them, installed; undefined when mTLS is off over there. */
  private async obtainIdentity(): Promise<void> {
    const { createCsr } = await import('./csr.ts');
    const node = this.options.node;
    const { keyPem, csrPem } = await createCsr(node.nodeId);
    let issued: IssuedCertificateMsg;
    try {
      issued = await new Promise<IssuedCertificateMsg>((resolve, reject) =>
        this.client.IssueCertificate(
          {
            csr: csrPem,
            node: { nodeId: node.nodeId, kind: node.kind, tier: node.tier, location: node.location },
          },
          this.metadata(),
          (err, res) => (err ? reject(err) : resolve(res!)),
        ),
      );
    } catch (err) {
      if ((err as grpc.ServiceError).code === grpc.status.FAILED_PRECONDITION && !this.identity) {
        this.log({ event: 'plaintext', reason: (err as grpc.ServiceError).details });
        this.identitySettled = true;
        this.settleIdentity(undefined);
        return;
      }
      throw err;
    }
    const material = { keyPem, certPem: issued.certificateChain, caPem: issued.caBundle };
    if (this.identity) this.identity.update(material);
    else {
      this.identity = new MeshIdentity(material);
      if (this.options.processIdentity !== false) setMeshIdentity(this.identity);
    }
    this.log({
      event: 'certificate',
      spiffeId: this.identity.spiffeId,
      notAfter: this.identity.notAfter.toISOString(),
    });
    this.identitySettled = true;
    this.settleIdentity(this.identity);
    this.renewRetryMs = 1000;
    // Half the lifetime left: time enough for retries, and a peer's clock a little off still accepts it.
    this.scheduleRenewal((issued.notAfterMs - Date.now()) / 2);
  }

  private scheduleRenewal(inMs: number): void {
    clearTimeout(this.renewal);
    if (this.closed) return;
    this.renewal = setTimeout(
      () => {
        this.obtainIdentity().catch((err: Error) => {
          if (this.closed) return;
          // The old certificate keeps serving while it is valid; the next try comes sooner than its expiry.
          const retryInMs = this.renewRetryMs;
          this.log({ event: 'certificate-renewal-failed', reason: err.message, retryInMs });
          this.explain(err);
          this.renewRetryMs = Math.min(this.renewRetryMs * 2, RENEW_RETRY_MAX_MS);
          this.scheduleRenewal(retryInMs);
        });
      },
      Math.max(0, inMs),
    );
    this.renewal.unref();
  }

  private async applySnapshot(
    stream: grpc.ClientDuplexStream<NodeMessage, SnapshotMsg>,
    snapshot: SnapshotMsg,
  ): Promise<void> {
    try {
      const result = await this.options.apply(snapshot);
      this.appliedVersion = snapshot.version;
      this.ready = result.ready ?? [];
      stream.write({ ack: { version: snapshot.version, ready: this.ready } });
    } catch (err) {
      const reason = toRoamError(err).message;
      this.log({ event: 'nack', version: snapshot.version, reason });
      stream.write({ nack: { version: snapshot.version, reason } });
    }
  }

  /** Opens the report stream once the node is subscribed (so the control plane knows its site and tier). */
  private startReports(): void {
    const report = this.options.report;
    if (report === undefined || this.reports !== undefined || this.closed) return;
    let metadata: grpc.Metadata;
    try {
      metadata = this.metadata();
    } catch (err) {
      // The next snapshot tries again.
      this.log({ event: 'report-stream-ended', reason: (err as Error).message });
      return;
    }
    const stream = this.client.Report(metadata);
    this.reports = stream;
    stream.on('data', (ack: ReportAckMsg) => report.peers?.(ack.peers));
    const ended = (err?: Error) => {
      if (this.reports !== stream) return;
      if (err) this.log({ event: 'report-stream-ended', reason: err.message });
      this.stopReports();
      // A refused batch or a broken stream: the next snapshot (or reconnect) opens a new one.
    };
    stream.on('error', ended);
    stream.on('end', () => ended());
    clearInterval(this.reportTimer);
    this.reportTimer = setInterval(() => {
      stream.write(report.batch(this.options.node.nodeId));
    }, report.intervalMs ?? 5000);
    this.reportTimer.unref();
  }

  private stopReports(): void {
    clearInterval(this.reportTimer);
    this.reportTimer = undefined;
    const stream = this.reports;
    this.reports = undefined;
    stream?.end();
  }

  fetchModule(digest: string): Promise<Uint8Array> {
    return new Promise((resolve, reject) =>
      this.client.FetchModule({ digest }, this.metadata(), (err, res) =>
        err ? reject(err) : resolve(new Uint8Array(res!.module)),
      ),
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.renewal);
    clearInterval(this.heartbeat);
    this.stopReports();
    clearTimeout(this.retry);
    this.stream?.end();
    this.client.close();
  }
}

/** Whether something at HOST:PORT completes a TLS handshake (certificate unchecked: only the protocol matters). */
async function speaksTls(address: string): Promise<boolean> {
  const tls = await import('node:tls');
  const colon = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: address.slice(0, colon).replace(/^\[|\]$/g, ''),
      port: Number(address.slice(colon + 1)),
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      servername: 'roam-control-plane',
    });
    const done = (yes: boolean) => {
      socket.destroy();
      resolve(yes);
    };
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(2000, () => done(false));
  });
}

/** Heartbeat load for this process: `inFlight` from the node, CPU (millicores, since the last call) and RSS. */
export function processLoad(
  inFlight: () => number,
): () => { inFlight: number; cpuMillis: number; memoryMib: number } {
  let last = process.cpuUsage();
  let lastAt = performance.now();
  return () => {
    const now = performance.now();
    const usage = process.cpuUsage(last);
    const elapsedMs = Math.max(1, now - lastAt);
    last = process.cpuUsage();
    lastAt = now;
    return {
      inFlight: inFlight(),
      cpuMillis: Math.round(((usage.user + usage.system) / 1000 / elapsedMs) * 1000),
      memoryMib: Math.round(process.memoryUsage.rss() / 1024 / 1024),
    };
  };
}
