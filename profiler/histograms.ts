// Latency histograms as the profiler moves them around: deltas of a node's cumulative histograms, the wire
// form of protocol/roam.proto, and decay (every count scaled by the same factor keeps quantiles exact).

import type { LatencyHistogramMsg } from '../control-plane/proto.ts';
import { InvalidArgumentError } from '../core/errors.ts';
import { Histogram, type HistogramSnapshot } from '../core/histogram.ts';

/** What `now` recorded since `prev` (both cumulative snapshots of the same histogram). */
export function histogramDelta(
  now: HistogramSnapshot,
  prev: HistogramSnapshot | undefined,
): HistogramSnapshot {
  if (prev === undefined) return now;
  const buckets: Record<number, number> = {};
  for (const [k, v] of Object.entries(now.buckets)) {
    const d = v - (prev.buckets[Number(k)] ?? 0);
    if (d > 0) buckets[Number(k)] = d;
  }
  return { count: now.count - prev.count, sum: now.sum - prev.sum, buckets };
}

export function toWire(h: HistogramSnapshot): LatencyHistogramMsg {
  const buckets: Record<string, number> = {};
  for (const [k, v] of Object.entries(h.buckets)) buckets[k] = v;
  return { count: h.count, sumMs: h.sum, buckets };
}

const MAX_BUCKET = 1 + 41 * 8;

/** Checks a histogram that came over the wire; throws naming what is wrong. */
export function fromWire(msg: LatencyHistogramMsg | undefined | null, where: string): HistogramSnapshot {
  if (msg === undefined || msg === null) return { count: 0, sum: 0, buckets: {} };
  const count = Number(msg.count);
  const sum = Number(msg.sumMs);
  if (!(count >= 0) || !(sum >= 0)) throw new InvalidArgumentError(`${where}: count and sum_ms must be >= 0`);
  const buckets: Record<number, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(msg.buckets ?? {})) {
    const b = Number(k);
    const n = Number(v);
    if (!Number.isInteger(b) || b < 0 || b > MAX_BUCKET || !(n >= 0)) {
      throw new InvalidArgumentError(`${where}: bucket ${k}=${v} is not a valid bucket index and count`);
    }
    if (n > 0) buckets[b] = n;
    total += n;
  }
  if (total !== count)
    throw new InvalidArgumentError(`${where}: buckets add up to ${total}, count says ${count}`);
  return { count, sum, buckets };
}

/** A copy of `h` with every count (and the sum) multiplied by `factor`; buckets that fade out are dropped. */
export function scaled(h: Histogram, factor: number): Histogram {
  const snap = h.snapshot();
  const buckets: Record<number, number> = {};
  let count = 0;
  for (const [k, v] of Object.entries(snap.buckets)) {
    const n = v * factor;
    if (n < 1e-3) continue;
    buckets[Number(k)] = n;
    count += n;
  }
  const out = new Histogram();
  out.merge({ count, sum: snap.sum * factor, buckets });
  return out;
}
