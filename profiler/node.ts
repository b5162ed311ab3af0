// Profiling on a node (a proxy or a host), wired in one call by the CLI: the recorder the proxy reports each
// request to, the network prober (remote stores now, the other nodes once the control plane names them), the
// OpenTelemetry instruments, and the batches the discovery client streams.
import type { Reporting } from '../control-plane/client.ts';
import { type DataStore, RemoteStore, type WasmHost } from '../wasm-host/index.ts';
import { registerNodeMetrics } from './metrics.ts';
import { NetworkProber } from './probes.ts';
import { NodeProfiler } from './recorder.ts';

export interface NodeProfilingOptions {
  node: { id: string; tier: string; site: string };
  host?: WasmHost;
  /** The node's data stores; the remote ones are probed. */
  stores?: DataStore[];
  /** Time between report batches (default 5000 ms); probes run at half that rate. */
  reportIntervalMs?: number;
}

export interface NodeProfiling {
  profiler: NodeProfiler;
  reporting: Reporting;
  close(): void;
}

export function startNodeProfiling(options: NodeProfilingOptions): NodeProfiling {
  const intervalMs = options.reportIntervalMs ?? 5000;
  const prober = new NetworkProber({ intervalMs: intervalMs * 2 });
  prober.setStores(
    (options.stores ?? [])
      .filter((s): s is RemoteStore => s instanceof RemoteStore)
      .map((s) => ({ name: s.name, location: s.location, address: s.url })),
  );
  prober.start();
  const profiler = new NodeProfiler({ ...(options.host ? { host: options.host } : {}), prober });
  registerNodeMetrics(profiler, options.node);
  return {
    profiler,
    reporting: {
      batch: (nodeId) => profiler.batch(nodeId),
      peers: (peers) => prober.setPeers(peers),
      intervalMs,
    },
    close: () => prober.close(),
  };
}
