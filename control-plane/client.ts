// The node side of the discovery stream, shared by proxies and hosts: subscribe, apply each snapshot through
// the node's own callback, ACK what was applied (or NACK with the reason and keep the last good snapshot),
// send heartbeats, and resubscribe with backoff whenever the stream ends. Between streams the node keeps
// serving what it applied last (static stability).
import * as grpc from '@grpc/grpc-js';
import { toRoamError } from '../core/errors.ts';
import {
  Discovery,
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
  token: string;
  node: Omit<SubscribeMsg, 'appliedVersion' | 'ready'>;
  apply(snapshot: SnapshotMsg): Promise<ApplyResult>;
  /** Load figures for heartbeats. */
  load?(): { inFlight: number; cpuMillis: number; memoryMib: number };
  heartbeatMs?: number;
  log?(event: Record<string, unknown>): void;
  /** Measurements streamed on the Report rpc while connected (the profiler); none without it. */
  report?: Reporting;
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
};

export class DiscoveryClient {
  private readonly options: DiscoveryClientOptions;
  private readonly client: GrpcClient;
  private readonly metadata = new grpc.Metadata();
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

  constructor(options: DiscoveryClientOptions) {
    this.options = options;
    this.metadata.set('authorization', `Bearer ${options.token}`);
    this.client = new Discovery(options.address, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 10_000,
    }) as unknown as GrpcClient;
  }

  start(): void {
    this.connect();
  }

  private log(event: Record<string, unknown>): void {
    this.options.log?.({ component: 'discovery', node: this.options.node.nodeId, ...event });
  }

  private connect(): void {
    if (this.closed) return;
    const stream = this.client.Stream(this.metadata);
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
      if (this.closed) return;
      this.log({ event: 'disconnected', reason: err?.message ?? 'stream ended', retryInMs: this.backoffMs });
      // Jittered exponential backoff, capped low: a restarted control plane should see its nodes back soon.
      this.retry = setTimeout(() => this.connect(), this.backoffMs * (0.5 + Math.random() / 2));
      this.backoffMs = Math.min(this.backoffMs * 2, 2000);
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
    const stream = this.client.Report(this.metadata);
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
      this.client.FetchModule({ digest }, this.metadata, (err, res) =>
        err ? reject(err) : resolve(new Uint8Array(res!.module)),
      ),
    );
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.stopReports();
    clearTimeout(this.retry);
    this.stream?.end();
    this.client.close();
  }
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
