// The profiler's public surface. Nodes (proxies and hosts) run a NodeProfiler and a NetworkProber and stream
// batches to the control plane; the control plane holds a ProfileStore that merges them and answers
// profiles(), distances() and onDrift() for the placement loop. docs/profiler.md is the contract's prose.
export type { DriftEvent, DriftKind, DriftListener, DriftThresholds, WindowSummary } from './drift.ts';
export { DEFAULT_DRIFT_THRESHOLDS, DriftDetector, driftStatistics } from './drift.ts';
export { DEFAULT_PROFILER_LIMITS, OTHER, type ProfilerLimits } from './limits.ts';
export { migrationCounter, registerNodeMetrics, registerPlacementMetrics } from './metrics.ts';
export { type NodeProfiling, type NodeProfilingOptions, startNodeProfiling } from './node.ts';
export { NetworkProber, type ProberOptions, type ProbeTarget, probeOnce } from './probes.ts';
export type {
  CalleeProfile,
  Distances,
  EndpointProfile,
  HostProfile,
  LatencySummary,
  OriginProfile,
  SiteDistance,
  StoreDistance,
  StoreProfile,
  StoreUse,
} from './profile.ts';
export { NodeProfiler, type NodeProfilerOptions } from './recorder.ts';
export { type NodeInfo, ProfileStore, type ProfileStoreOptions } from './store.ts';
