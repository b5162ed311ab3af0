// Loads protocol/roam.proto for @grpc/grpc-js (fields in camelCase, uint64 versions as JS numbers).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { CallerPolicy } from '../core/mesh-authz.ts';
import { filePath } from '../core/paths.ts';

const PROTO = filePath('protocol/roam.proto');

const definition = protoLoader.loadSync(PROTO, {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  roam: { v1: { Discovery: grpc.ServiceClientConstructor } };
};

export const Discovery = pkg.roam.v1.Discovery;

export interface SubscribeMsg {
  nodeId: string;
  kind: string;
  tier: string;
  location: string;
  address: string;
  cpuMillis: number;
  memoryMib: number;
  capabilities: string[];
  appliedVersion: number;
  stores: DataStoreInfo[];
  /** What the node runs now (endpoint@digest); absent from older nodes. */
  ready?: string[];
}

/** protocol/roam.proto's CertificateRequest. */
export interface CertificateRequestMsg {
  csr: string;
  node: Pick<SubscribeMsg, 'nodeId' | 'kind' | 'tier' | 'location'> & Partial<SubscribeMsg>;
}

/** protocol/roam.proto's IssuedCertificate. */
export interface IssuedCertificateMsg {
  certificateChain: string;
  caBundle: string;
  trustDomain: string;
  notAfterMs: number;
}

export interface DataStoreInfo {
  name: string;
  location: string;
  kind: string;
}

export interface NodeMessage {
  kind?: 'subscribe' | 'ack' | 'nack' | 'heartbeat';
  subscribe?: SubscribeMsg;
  ack?: { version: number; ready: string[] };
  nack?: { version: number; reason: string };
  heartbeat?: { inFlight: number; cpuMillis: number; memoryMib: number };
}

export interface SnapshotMsg {
  version: number;
  routes: { match: string; endpoint: string; host: string; timeoutMs: number; retries: number }[];
  endpoints: {
    endpoint: string;
    digest: string;
    targets: { kind: string; url: string; weight: number; hostId: string; tier: string }[];
    /** Who may call it over the mesh; absent, or null (the proto default): any mesh identity. */
    callers?: CallerPolicy | null;
  }[];
  assignments: { endpoint: string; digest: string; timeoutMs: number; memoryPages: number }[];
}

/** A mergeable latency histogram on the wire (core/histogram.ts's snapshot with the sum named by its unit). */
export interface LatencyHistogramMsg {
  count: number;
  sumMs: number;
  buckets: Record<string, number>;
}

export interface OriginReportMsg {
  endpoint: string;
  legacy: boolean;
  requests: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: LatencyHistogramMsg;
}

export interface ExecutionReportMsg {
  endpoint: string;
  invocations: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  latency: LatencyHistogramMsg;
  cpuMicros: number;
  cpuSamples: number;
  memoryBytes: number;
  stores: { store: string; accesses: number; errors: number; bytes: number; timeMs: number }[];
  callees: { callee: string; calls: number; errors: number; bytes: number; timeMs: number }[];
}

export interface ProbeReportMsg {
  kind: 'node' | 'store';
  target: string;
  location: string;
  rttMs: number;
  jitterMs: number;
  samples: number;
  lost: number;
}

/** protocol/roam.proto's ReportBatch: one node's measurements since its previous batch. */
export interface ReportBatchMsg {
  nodeId: string;
  intervalMs: number;
  origins: OriginReportMsg[];
  executions: ExecutionReportMsg[];
  probes: ProbeReportMsg[];
  dropped: number;
}

export interface ReportAckMsg {
  accepted: number;
  peers: { nodeId: string; address: string }[];
}
