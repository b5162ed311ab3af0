// Active network probes: every node measures, at a low rate, the round trip to each other node (the peers
// the control plane names in its report acks) and to each remote data store's host. A probe is one small
// request (PROBE_PATH, answered 204 without any work) over a connection kept alive between probes, so it
// times one network round trip, not a connection set-up, and it crosses the network relay like real traffic
// when there is one (core/network.ts). Results keep the recent samples: median and jitter.
import type { Pool } from 'undici';
import type { ProbeReportMsg } from '../control-plane/proto.ts';
import { PROBE_PATH } from '../core/http.ts';
import { meshConnector } from '../core/network.ts';
import { undici } from '../core/undici.ts';

export interface ProbeTarget {
  kind: 'node' | 'store';
  /** A node id, or a store name. */
  target: string;
  /** For stores: where the store lives. */
  location: string;
  /** http://HOST:PORT of the node (for a store, of the host that owns it). */
  address: string;
}

export interface ProberOptions {
  /** Time between two rounds of probes (each target once per round). */
  intervalMs?: number;
  /** Recent samples kept per target. */
  samples?: number;
  timeoutMs?: number;
  /** Most targets probed; the rest wait (peers beyond this are not measured from this node). */
  maxTargets?: number;
}

interface Series {
  spec: ProbeTarget;
  pool: Pool;
  /** Round trips in ms, NaN for a probe that failed; oldest first. */
  samples: number[];
}

/** One probe request on `pool`: resolves with its round trip in ms, or NaN when it fails. */
export async function probeOnce(pool: Pool, timeoutMs: number): Promise<number> {
  const start = performance.now();
  try {
    const res = await pool.request({
      method: 'GET',
      path: PROBE_PATH,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const rtt = performance.now() - start;
    await res.body.dump();
    return res.statusCode < 500 ? rtt : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function median(sorted: number[]): number {
  const n = sorted.length;
  if (n === 0) return 0;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** Median and jitter (mean absolute difference of successive successful samples) of a series. */
export function summarize(samples: number[]): {
  rttMs: number;
  jitterMs: number;
  samples: number;
  lost: number;
} {
  const ok = samples.filter((s) => !Number.isNaN(s));
  let diff = 0;
  for (let i = 1; i < ok.length; i++) diff += Math.abs(ok[i]! - ok[i - 1]!);
  return {
    rttMs: median([...ok].sort((a, b) => a - b)),
    jitterMs: ok.length > 1 ? diff / (ok.length - 1) : 0,
    samples: ok.length,
    lost: samples.length - ok.length,
  };
}

export class NetworkProber {
  private readonly intervalMs: number;
  private readonly keep: number;
  private readonly timeoutMs: number;
  private readonly maxTargets: number;
  private readonly series = new Map<string, Series>();
  private stores: ProbeTarget[] = [];
  private peers: ProbeTarget[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(options: ProberOptions = {}) {
    this.intervalMs = options.intervalMs ?? 10_000;
    this.keep = options.samples ?? 16;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxTargets = options.maxTargets ?? 256;
  }

  /** The remote stores this node reaches (fixed for its life). */
  setStores(stores: { name: string; location: string; address: string }[]): void {
    this.stores = stores.map((s) => ({
      kind: 'store',
      target: s.name,
      location: s.location,
      address: s.address,
    }));
  }

  /** The other nodes, as the control plane last named them; series of nodes no longer named are dropped. */
  setPeers(peers: { nodeId: string; address: string }[]): void {
    this.peers = peers.map((p) => ({ kind: 'node', target: p.nodeId, location: '', address: p.address }));
    const wanted = new Set(this.targets().map(keyOf));
    for (const [k, s] of this.series) {
      if (wanted.has(k)) continue;
      void s.pool.destroy();
      this.series.delete(k);
    }
  }

  private targets(): ProbeTarget[] {
    return [...this.stores, ...this.peers]
      .filter((t) => /^https?:$/.test(URL.parse(t.address)?.protocol ?? ''))
      .slice(0, this.maxTargets);
  }

  /** Probes every target once (one at a time: a probe round is a trickle, not a burst). */
  round(): Promise<void> {
    this.running ??= (async () => {
      for (const t of this.targets()) {
        let s = this.series.get(keyOf(t));
        if (s === undefined) {
          s = { spec: t, pool: this.pool(t.address), samples: [] };
          this.series.set(keyOf(t), s);
          // The first request pays the connection set-up: it warms the connection and is not a sample.
          await probeOnce(s.pool, this.timeoutMs);
        }
        s.samples.push(await probeOnce(s.pool, this.timeoutMs));
        if (s.samples.length > this.keep) s.samples.shift();
      }
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private pool(address: string): Pool {
    // One connection, kept alive across rounds, so that every sample is a round trip on an open connection.
    return new (undici().Pool)(address, {
      connections: 1,
      keepAliveTimeout: Math.max(60_000, this.intervalMs * 4),
      keepAliveMaxTimeout: Math.max(600_000, this.intervalMs * 8),
      connect: meshConnector(),
    });
  }

  start(): void {
    const tick = () => {
      void this.round().finally(() => {
        if (this.closed) return;
        // Jittered, so that nodes started together do not probe in lockstep.
        this.timer = setTimeout(tick, this.intervalMs * (0.75 + Math.random() / 2));
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, Math.random() * Math.min(this.intervalMs, 1000));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const s of this.series.values()) void s.pool.destroy();
    this.series.clear();
  }

  results(): ProbeReportMsg[] {
    return [...this.series.values()]
      .filter((s) => s.samples.length > 0)
      .map((s) => ({
        kind: s.spec.kind,
        target: s.spec.target,
        location: s.spec.location,
        ...summarize(s.samples),
      }));
  }
}

function keyOf(t: ProbeTarget): string {
  return `${t.kind}\u0000${t.target}\u0000${t.address}`;
}
