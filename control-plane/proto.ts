// Loads protocol/roam.proto for @grpc/grpc-js (fields in camelCase, uint64 versions as JS numbers).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const PROTO = new URL('../protocol/roam.proto', import.meta.url).pathname;

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
  }[];
  assignments: { endpoint: string; digest: string; timeoutMs: number; memoryPages: number }[];
}
