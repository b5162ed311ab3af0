// One direction of one relayed TCP connection: each chunk read from `source` is written to `sink` after the
// link's one-way delay, its jitter, its wait for bandwidth and, when the chunk "loses" a segment, a
// retransmission timeout. Delivery times never go backwards, so jitter and loss delay the stream (head-of-line
// blocking, as in TCP) but never reorder or corrupt it.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TokenBucket } from './token-bucket.ts';

/** What one direction of a link does to the bytes crossing it. */
export interface Direction {
  oneWayMs: number;
  /** Upper bound of the extra one-way delay, drawn uniformly per chunk. */
  jitterMs: number;
  /** Per-segment loss probability. */
  loss: number;
  /** What a lost segment costs: the sender notices after its retransmission timeout and sends it again. */
  rtoMs: number;
  /** The link's bandwidth in this direction, shared by its connections; null is unlimited. */
  bucket: TokenBucket | null;
  random: () => number;
}

const SEGMENT_BYTES = 1460;
/** Bytes held in the line (plus the sink's buffer) before the source is paused: TCP's window, roughly. */
const HIGH_WATER_BYTES = 1024 * 1024;

interface Pending {
  at: number;
  /** null: the source ended; the sink is ended in turn. */
  chunk: Buffer | null;
}

export class DelayLine {
  private readonly source: Socket;
  private readonly sink: Socket;
  private readonly dir: Direction;
  private queue: Pending[] = [];
  private lastAt: number;
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private stopped = false;

  /** `notBefore`: nothing is delivered earlier (a new connection's first bytes wait for its handshake). */
  constructor(source: Socket, sink: Socket, dir: Direction, notBefore = 0) {
    this.source = source;
    this.sink = sink;
    this.dir = dir;
    this.lastAt = notBefore;
    source.on('data', (chunk: Buffer) => this.push(chunk));
    source.on('end', () => this.enqueue(performance.now() + dir.oneWayMs, null));
    sink.on('drain', () => this.updateFlow());
  }

  /** Drops what is still in flight: the sink is gone. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.queue = [];
  }

  private push(chunk: Buffer): void {
    const now = performance.now();
    const { bucket, oneWayMs, jitterMs, loss, rtoMs, random } = this.dir;
    let at = (bucket ? bucket.reserve(chunk.length, now) : now) + oneWayMs + random() * jitterMs;
    if (loss > 0 && random() < 1 - (1 - loss) ** Math.ceil(chunk.length / SEGMENT_BYTES)) at += rtoMs;
    this.queuedBytes += chunk.length;
    this.enqueue(at, chunk);
    this.updateFlow();
  }

  private enqueue(at: number, chunk: Buffer | null): void {
    if (this.stopped) return;
    this.lastAt = Math.max(at, this.lastAt);
    this.queue.push({ at: this.lastAt, chunk });
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined || this.immediate !== undefined || this.queue.length === 0) return;
    const wait = this.queue[0]!.at - performance.now();
    // A timer waits at least a millisecond: what is already due (a 0 ms link) goes out on the next turn.
    if (wait <= 0) this.immediate = setImmediate(() => this.deliver());
    else this.timer = setTimeout(() => this.deliver(), wait);
  }

  private deliver(): void {
    this.timer = undefined;
    this.immediate = undefined;
    const now = performance.now();
    let n = 0;
    // A timer may fire a fraction of a millisecond early; what is not due yet waits for the next one.
    while (n < this.queue.length && this.queue[n]!.at <= now) {
      const { chunk } = this.queue[n++]!;
      if (chunk === null) this.sink.end();
      else {
        this.queuedBytes -= chunk.length;
        this.sink.write(chunk);
      }
    }
    this.queue = n === this.queue.length ? [] : this.queue.slice(n);
    this.updateFlow();
    this.arm();
  }

  private updateFlow(): void {
    if (this.stopped) return;
    const full = this.queuedBytes + this.sink.writableLength > HIGH_WATER_BYTES;
    if (full && !this.source.isPaused()) this.source.pause();
    else if (!full && this.source.isPaused()) this.source.resume();
  }
}
