// A small mergeable latency histogram: log-linear buckets (8 per power of two) over microseconds, so
// quantiles from several proxies or hosts combine exactly by adding bucket counts. Relative error <= 6.25 %.

const SUB_BUCKETS = 8;
const MAX_EXPONENT = 40;

export interface HistogramSnapshot {
  count: number;
  sum: number;
  /** Sparse bucket index -> count. */
  buckets: Record<number, number>;
}

function bucketOf(micros: number): number {
  if (micros < 1) return 0;
  const exp = Math.min(Math.floor(Math.log2(micros)), MAX_EXPONENT);
  const sub = Math.min(Math.floor((micros / 2 ** exp - 1) * SUB_BUCKETS), SUB_BUCKETS - 1);
  return 1 + exp * SUB_BUCKETS + sub;
}

/** Upper bound of a bucket, in microseconds. */
function bucketUpper(index: number): number {
  if (index === 0) return 1;
  const exp = Math.floor((index - 1) / SUB_BUCKETS);
  const sub = (index - 1) % SUB_BUCKETS;
  return 2 ** exp * (1 + (sub + 1) / SUB_BUCKETS);
}

export class Histogram {
  count = 0;
  /** Sum of recorded values in milliseconds. */
  sum = 0;
  private readonly buckets = new Map<number, number>();

  /** Records a duration in milliseconds. */
  record(ms: number): void {
    this.count++;
    this.sum += ms;
    const b = bucketOf(ms * 1000);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  merge(other: HistogramSnapshot): void {
    this.count += other.count;
    this.sum += other.sum;
    for (const [k, v] of Object.entries(other.buckets)) {
      const b = Number(k);
      this.buckets.set(b, (this.buckets.get(b) ?? 0) + v);
    }
  }

  /** The q-quantile in milliseconds (upper bound of its bucket), 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    const sorted = [...this.buckets.keys()].sort((a, b) => a - b);
    let seen = 0;
    for (const b of sorted) {
      seen += this.buckets.get(b)!;
      if (seen >= rank) return bucketUpper(b) / 1000;
    }
    return bucketUpper(sorted[sorted.length - 1]!) / 1000;
  }

  snapshot(): HistogramSnapshot {
    return { count: this.count, sum: this.sum, buckets: Object.fromEntries(this.buckets) };
  }
}
