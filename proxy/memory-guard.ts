// A defined behaviour at the memory cap: when V8's old generation nears its limit (Node's
// --max-old-space-size), the sidecar sheds new requests with 503 instead of growing into an out-of-memory crash
// that would drop every request in flight. Shedding starts past one fraction of the limit and stops under a
// lower one, so it does not flap; the heap is sampled on a timer, off the request path.
import { getHeapStatistics } from 'node:v8';

export interface HeapUse {
  used: number;
  limit: number;
}

export interface MemoryGuardOptions {
  /** Start shedding past this fraction of the heap limit. */
  shedAt: number;
  /** Stop shedding once back under this fraction. */
  resumeAt: number;
  intervalMs: number;
  /** Where the figures come from (V8's own, unless a test says otherwise). */
  read?: () => HeapUse;
}

/**
 * The old generation's limit: --max-old-space-size as given on the command line or in NODE_OPTIONS. V8's
 * heap_size_limit also counts the young generation's reservation (192 MB by default on Node 24), so it cannot
 * stand in for the cap: a process with a 48 MB old space reports 240 MB and dies at about 64 MB used.
 * Without the flag, V8's whole limit is the best figure there is.
 */
export function oldGenerationLimit(
  argv: readonly string[] = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
): number {
  for (const flag of [...argv, ...nodeOptions.split(/\s+/)]) {
    const m = /^--max[-_]old[-_]space[-_]size=(\d+)$/.exec(flag);
    if (m) return Number(m[1]) * 1024 * 1024;
  }
  return getHeapStatistics().heap_size_limit;
}

function v8Heap(limit: number): HeapUse {
  // Young objects count too: what survives a scavenge is promoted into the old generation at once, tens of MB
  // in a burst, past any headroom measured on the old generation alone. A sidecar keeps the young generation
  // small (--max-semi-space-size, docs/proxy.md) so it does not eat into the cap.
  return { used: getHeapStatistics().used_heap_size, limit };
}

export class MemoryGuard {
  /** True while new requests are refused. */
  shedding = false;
  /** Requests refused so far. */
  shed = 0;
  last: HeapUse;
  private readonly options: MemoryGuardOptions;
  private readonly read: () => HeapUse;
  private readonly timer: NodeJS.Timeout;

  constructor(options: MemoryGuardOptions) {
    this.options = options;
    const limit = options.read ? 0 : oldGenerationLimit();
    this.read = options.read ?? (() => v8Heap(limit));
    this.last = this.read();
    this.timer = setInterval(() => this.sample(), options.intervalMs);
    this.timer.unref();
  }

  sample(): void {
    this.last = this.read();
    const ratio = this.last.used / this.last.limit;
    if (!this.shedding && ratio >= this.options.shedAt) this.shedding = true;
    else if (this.shedding && ratio < this.options.resumeAt) this.shedding = false;
  }

  /** What a refused client is told. */
  reason(): string {
    const mb = (n: number) => Math.round(n / (1024 * 1024));
    return `the proxy is near its memory cap (heap ${mb(this.last.used)} of ${mb(this.last.limit)} MB): shedding new requests until it is under ${Math.round(this.options.resumeAt * 100)} %`;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
