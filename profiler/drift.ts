// Drift: when an endpoint's recent workload stops looking like its longer baseline, the placement that was
// right for the baseline may no longer be. Four statistics compare the profile window (recent, half-life
// 30 s by default) with the baseline window (half-life 5 min) of the same endpoint; docs/profiler.md has the
// definitions. Each kind fires once when it crosses its threshold and re-arms only after falling below half
// the threshold's excess (hysteresis), so a shift raises one event, not one per report.

export type DriftKind = 'origin-mix' | 'rate' | 'data-access' | 'latency';

export interface DriftThresholds {
  /** Total variation distance between origin-site shares (0 same mix, 1 disjoint). */
  originMix: number;
  /** Ratio of request rates, either way (2 = doubled or halved). */
  rateRatio: number;
  /** Normalised L1 change of accesses per request over stores (0 same, 1 disjoint stores). */
  dataAccess: number;
  /** Ratio of p90 latencies, either way. */
  latencyRatio: number;
  /** Requests (decayed) the recent window needs before any statistic is trusted. */
  minRequests: number;
  /** How long an endpoint must have been seen before its baseline counts. */
  warmupMs: number;
}

export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = {
  originMix: 0.2,
  rateRatio: 2,
  dataAccess: 0.3,
  latencyRatio: 1.5,
  minRequests: 20,
  warmupMs: 120_000,
};

/** What the drift statistics need from one window. */
export interface WindowSummary {
  /** Decayed request count (the weight of the window). */
  requests: number;
  requestsPerSecond: number;
  /** Origin site -> share of requests. */
  originShares: Record<string, number>;
  /** Store -> accesses per request. */
  accessesPerRequest: Record<string, number>;
  p90Ms: number;
}

export interface DriftEvent {
  endpoint: string;
  kind: DriftKind;
  /** The statistic's value and the threshold it crossed. */
  statistic: number;
  threshold: number;
  /** The baseline and the recent window, summarised. */
  before: WindowSummary;
  after: WindowSummary;
  /** When it was detected, ms since the epoch (the store's clock). */
  at: number;
}

export type DriftListener = (event: DriftEvent) => void;

function totalVariation(a: Record<string, number>, b: Record<string, number>): number {
  let d = 0;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) d += Math.abs((a[k] ?? 0) - (b[k] ?? 0));
  return d / 2;
}

function ratio(x: number, y: number): number | undefined {
  if (!(x > 0) || !(y > 0)) return undefined;
  return x > y ? x / y : y / x;
}

/** The four statistics, undefined where there is not enough to compare. */
export function driftStatistics(
  recent: WindowSummary,
  baseline: WindowSummary,
): Record<DriftKind, number | undefined> {
  let change = 0;
  let scale = 0;
  const a = recent.accessesPerRequest;
  const b = baseline.accessesPerRequest;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    change += Math.abs((a[k] ?? 0) - (b[k] ?? 0));
    scale += Math.max(a[k] ?? 0, b[k] ?? 0);
  }
  return {
    'origin-mix':
      Object.keys(recent.originShares).length > 0 && Object.keys(baseline.originShares).length > 0
        ? totalVariation(recent.originShares, baseline.originShares)
        : undefined,
    rate: ratio(recent.requestsPerSecond, baseline.requestsPerSecond),
    'data-access': scale > 0 ? change / scale : undefined,
    latency: ratio(recent.p90Ms, baseline.p90Ms),
  };
}

/** Per endpoint, which kinds may fire (armed) and which wait to fall back under their re-arm level. */
export class DriftDetector {
  private readonly thresholds: DriftThresholds;
  private readonly fired = new Map<string, Set<DriftKind>>();

  constructor(thresholds: Partial<DriftThresholds> = {}) {
    this.thresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...thresholds };
  }

  get warmupMs(): number {
    return this.thresholds.warmupMs;
  }

  private threshold(kind: DriftKind): { fire: number; rearm: number } {
    const t = this.thresholds;
    switch (kind) {
      case 'origin-mix':
        return { fire: t.originMix, rearm: t.originMix / 2 };
      case 'data-access':
        return { fire: t.dataAccess, rearm: t.dataAccess / 2 };
      case 'rate':
        return { fire: t.rateRatio, rearm: 1 + (t.rateRatio - 1) / 2 };
      case 'latency':
        return { fire: t.latencyRatio, rearm: 1 + (t.latencyRatio - 1) / 2 };
    }
  }

  /** Compares the windows of `endpoint` and returns the events that fire now. */
  check(endpoint: string, recent: WindowSummary, baseline: WindowSummary, at: number): DriftEvent[] {
    if (recent.requests < this.thresholds.minRequests) return [];
    let fired = this.fired.get(endpoint);
    const events: DriftEvent[] = [];
    const stats = driftStatistics(recent, baseline);
    for (const kind of Object.keys(stats) as DriftKind[]) {
      const value = stats[kind];
      if (value === undefined) continue;
      const { fire, rearm } = this.threshold(kind);
      if (fired?.has(kind)) {
        if (value < rearm) fired.delete(kind);
      } else if (value >= fire) {
        if (fired === undefined) {
          fired = new Set();
          this.fired.set(endpoint, fired);
        }
        fired.add(kind);
        events.push({
          endpoint,
          kind,
          statistic: value,
          threshold: fire,
          before: baseline,
          after: recent,
          at,
        });
      }
    }
    return events;
  }

  forget(endpoint: string): void {
    this.fired.delete(endpoint);
  }
}
