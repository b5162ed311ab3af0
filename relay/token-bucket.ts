// A link's bandwidth, one direction: a token bucket shared by every connection on the link. A chunk may leave
// once the bucket has its bytes; a chunk larger than the bucket leaves at once and puts the bucket in debt,
// so departure times never go backwards and the long-run rate holds whatever the chunk sizes.

/** Bytes a link may send back to back after being idle. */
export const BURST_BYTES = 16 * 1024;

export class TokenBucket {
  private readonly bytesPerMs: number;
  private readonly burst: number;
  private tokens: number;
  private last = 0;

  constructor(mbps: number, burst = BURST_BYTES) {
    this.bytesPerMs = (mbps * 1_000_000) / 8 / 1000;
    this.burst = burst;
    this.tokens = burst;
  }

  /** Takes `bytes` and answers when (ms, on the caller's clock) they may leave, `now` or later. */
  reserve(bytes: number, now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.last) * this.bytesPerMs);
    this.last = Math.max(this.last, now);
    this.tokens -= bytes;
    return this.tokens >= 0 ? now : now - this.tokens / this.bytesPerMs;
  }
}
