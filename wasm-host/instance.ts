// One live instance of an endpoint module: the ABI's host functions bound to its memory, request in,
// response out, limits enforced. An instance handles one invocation at a time and is thrown away after a
// trap (a fresh one is cheap). Modules that import no I/O host function run synchronously; the others go
// through JSPI so a store or endpoint call on the network suspends the module instead of blocking the thread.
// An invocation whose caller gives up is interrupted like one past its deadline, and ends cancelled.
import { webcrypto } from 'node:crypto';
import {
  EndpointBadResponseError,
  EndpointCancelledError,
  EndpointOutOfMemoryError,
  EndpointTimeoutError,
  EndpointTrapError,
  ModuleUnsupportedError,
  NotFoundError,
  PayloadTooLargeError,
  RoamError,
} from '../core/errors.ts';
import {
  decodeRequest,
  decodeResponse,
  type EndpointRequest,
  type EndpointResponse,
  encodeKeyList,
  encodeResponse,
  requestSize,
  writeRequest,
} from './abi.ts';
import type { InvocationCost } from './accounting.ts';
import type { HostServices } from './host-services.ts';
import { INTERRUPT_IMPORT } from './interrupt.ts';
import type { Limits } from './limits.ts';
import { checkAbiVersion, type ModuleInfo } from './module-check.ts';
import type { MaybePromise } from './stores/index.ts';
import { type CancelCell, type Interruption, type InterruptSlot, interruptSlots } from './watchdog.ts';

/** A module checked and instrumented by the module store, ready to instantiate. */
export interface LoadedModule {
  digest: string;
  module: WebAssembly.Module;
  info: ModuleInfo;
}

/** What comes with one invocation besides its request. */
export interface InvocationContext {
  traceparent?: string;
  /** Overrides the instance's own services (a worker serves each task's host calls over its port). */
  services?: HostServices;
  /** Measure the thread's CPU time while the module runs, and the memory it ends with, into this. */
  cost?: InvocationCost;
  /** Set when the caller may give up on the invocation. */
  cancel?: CancelCell;
}

const SUSPENDING_IMPORTS = new Set(['kv_get', 'kv_put', 'kv_delete', 'kv_list', 'call']);
const PAGE = 65536;
const decoder = new TextDecoder();

/** True when the module imports a host function that may wait on the network. */
export function maySuspend(info: ModuleInfo): boolean {
  return info.hostImports.some((name) => SUSPENDING_IMPORTS.has(name));
}

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as Promise<T>)?.then === 'function';
}

/**
 * The clock CPU time is read from. Not the thread's CPU clock: Node reads it with getrusage(RUSAGE_THREAD),
 * which on Linux only advances at scheduler ticks (milliseconds), far coarser than an invocation. A module
 * segment between host calls runs without blocking, so the time it takes on the monotonic clock is its CPU
 * time (plus any preemption by other threads).
 */
function threadCpuMicros(): number {
  return performance.now() * 1000;
}

export class EndpointInstance {
  readonly endpoint: string;
  readonly digest: string;
  /** False once the instance trapped or timed out; the pool then drops it. */
  usable = true;
  private readonly memory: WebAssembly.Memory;
  private readonly maxPages: number;
  private readonly slot: InterruptSlot;
  private readonly limits: Limits;
  private readonly alloc: (size: number) => number;
  private readonly handle: (ptr: number, len: number) => MaybePromise<number>;
  private readonly suspends: boolean;
  private bytes: Uint8Array;
  private view: DataView;
  private staged: Uint8Array | undefined;
  private abortMessage: string | undefined;
  private logLines = 0;
  private traceparent: string | undefined;
  private readonly ownServices: HostServices;
  private services: HostServices;
  /** The invocation's cost being measured, if it is sampled; CPU runs only while the module is not suspended. */
  private cost: InvocationCost | undefined;
  private cpuMark = 0;

  /** `services` serve the start function and every invocation that does not bring its own. */
  constructor(endpoint: string, loaded: LoadedModule, services: HostServices, limits: Limits) {
    this.endpoint = endpoint;
    this.digest = loaded.digest;
    this.limits = limits;
    this.ownServices = services;
    this.services = services;
    const { min, max } = loaded.info.memory;
    if (min > limits.memoryPages) {
      throw new ModuleUnsupportedError(
        `module needs ${min} memory pages at start, over this host's limit of ${limits.memoryPages}`,
        { endpoint },
      );
    }
    this.maxPages = Math.min(max ?? Number.POSITIVE_INFINITY, limits.memoryPages);
    this.memory = new WebAssembly.Memory({ initial: min, maximum: this.maxPages });
    this.bytes = new Uint8Array(this.memory.buffer);
    this.view = new DataView(this.memory.buffer);
    this.suspends = maySuspend(loaded.info);
    this.slot = interruptSlots().acquire();

    // The start function and roam_abi_version are module code too: they run under the deadline.
    const slots = interruptSlots();
    slots.arm(this.slot, limits.timeoutMs);
    let ex: WebAssembly.Exports;
    let version: number;
    try {
      ex = new WebAssembly.Instance(loaded.module, this.imports()).exports;
      version = (ex['roam_abi_version'] as () => number)();
    } catch (err) {
      throw this.fail(err, slots.disarm(this.slot));
    }
    slots.disarm(this.slot);
    try {
      checkAbiVersion(version, endpoint);
    } catch (err) {
      this.dispose();
      throw err;
    }
    this.alloc = ex['roam_alloc'] as (size: number) => number;
    const handle = ex['roam_handle'] as (ptr: number, len: number) => number;
    this.handle = this.suspends ? WebAssembly.promising(handle) : handle;
  }

  /** Runs one request. Synchronous for modules that cannot suspend, a promise for the others. */
  invoke(req: EndpointRequest, ctx: InvocationContext = {}): MaybePromise<EndpointResponse> {
    const cost = ctx.cost;
    if (cost === undefined) return this.run(req, ctx);
    this.cost = cost;
    cost.cpuMicros = 0;
    this.cpuMark = threadCpuMicros();
    let result: MaybePromise<EndpointResponse>;
    try {
      result = this.run(req, ctx);
    } catch (err) {
      this.endCost();
      throw err;
    }
    if (!isPromise(result)) {
      this.endCost();
      return result;
    }
    return result.finally(() => this.endCost());
  }

  /** The module suspends on a host call: the wait is not its CPU. */
  private pauseCpu(): void {
    if (this.cost !== undefined) this.cost.cpuMicros += threadCpuMicros() - this.cpuMark;
  }

  private resumeCpu(): void {
    if (this.cost !== undefined) this.cpuMark = threadCpuMicros();
  }

  private endCost(): void {
    const cost = this.cost!;
    this.pauseCpu();
    cost.memoryBytes = this.memory.buffer.byteLength;
    this.cost = undefined;
  }

  private run(req: EndpointRequest, ctx: InvocationContext): MaybePromise<EndpointResponse> {
    const size = requestSize(req);
    if (size > this.limits.maxRequestBytes) {
      throw new PayloadTooLargeError(
        `request of ${size} bytes exceeds the endpoint's limit of ${this.limits.maxRequestBytes}`,
        { endpoint: this.endpoint },
      );
    }
    const cancel = ctx.cancel;
    if (cancel?.cancelled) throw this.cancelled();
    const slots = interruptSlots();
    this.logLines = 0;
    this.abortMessage = undefined;
    this.traceparent = ctx.traceparent;
    this.services = ctx.services ?? this.ownServices;
    slots.arm(this.slot, this.limits.timeoutMs);
    cancel?.armed(this.slot);
    let result: MaybePromise<number>;
    try {
      const ptr = this.alloc(size);
      if (ptr === 0) throw new EndpointOutOfMemoryError('module could not allocate the request buffer');
      this.refreshViews();
      if (ptr + size > this.bytes.length)
        throw new EndpointBadResponseError('roam_alloc returned an out-of-bounds buffer');
      writeRequest(req, this.bytes, ptr);
      result = this.handle(ptr, size);
    } catch (err) {
      throw this.fail(err, this.ended(cancel));
    }
    if (!isPromise(result)) return this.respond(result, this.ended(cancel));
    return this.awaitResponse(result, cancel);
  }

  /** Disarms the invocation; a cancelled caller counts even if the module finished before it was flipped. */
  private ended(cancel: CancelCell | undefined): Interruption | undefined {
    const why = interruptSlots().disarm(this.slot);
    return why ?? (cancel?.cancelled ? 'cancelled' : undefined);
  }

  /** The module returned: its response, unless its caller gave up meanwhile (nobody is left to read it). */
  private respond(descriptor: number, why: Interruption | undefined): EndpointResponse {
    if (why === 'cancelled') throw this.cancelled();
    return this.readResponse(descriptor);
  }

  private async awaitResponse(
    pending: Promise<number>,
    cancel: CancelCell | undefined,
  ): Promise<EndpointResponse> {
    // The watchdog stops compute; a module waiting on the network needs a timer as well. (A cancelled caller
    // needs none: its host calls fail at once, so the module resumes and meets its flipped state.)
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.limits.timeoutMs);
    });
    let outcome: number | 'timeout';
    try {
      outcome = await Promise.race([pending, timeout]);
    } catch (err) {
      throw this.fail(err, this.ended(cancel));
    } finally {
      clearTimeout(timer);
    }
    if (outcome !== 'timeout') return this.respond(outcome, this.ended(cancel));
    // The module is still suspended: it stays flipped (it traps if it ever resumes), and its slot stays out
    // of the pool until it settles.
    this.usable = false;
    const why = interruptSlots().abandon(this.slot, 'deadline');
    pending.catch(() => {}).finally(() => interruptSlots().release(this.slot));
    throw this.interrupted(why, undefined);
  }

  dispose(): void {
    if (this.usable) interruptSlots().release(this.slot);
    this.usable = false;
  }

  /** The instance is done for (a trap, an interrupt): its slot goes back and the pool drops it. */
  private fail(err: unknown, why: Interruption | undefined): RoamError {
    if (this.usable) {
      this.usable = false;
      interruptSlots().release(this.slot);
    }
    return why === undefined ? this.classify(err, true) : this.interrupted(why, err);
  }

  private interrupted(why: Interruption, cause: unknown): RoamError {
    if (why === 'cancelled') return this.cancelled(cause);
    return new EndpointTimeoutError(
      `endpoint "${this.endpoint}" exceeded its ${this.limits.timeoutMs} ms deadline`,
      {
        endpoint: this.endpoint,
        cause,
      },
    );
  }

  private cancelled(cause?: unknown): RoamError {
    return new EndpointCancelledError(`endpoint "${this.endpoint}" was cancelled: its caller went away`, {
      endpoint: this.endpoint,
      cause,
    });
  }

  private classify(err: unknown, running: boolean): RoamError {
    const endpoint = this.endpoint;
    if (err instanceof RoamError) return err;
    if (this.abortMessage !== undefined) {
      return new EndpointTrapError(`endpoint "${endpoint}" aborted: ${this.abortMessage}`, {
        endpoint,
        cause: err,
      });
    }
    const message = err instanceof Error ? err.message : String(err);
    // A failed memory.grow is invisible from outside: allocators react with a bare `unreachable`. Such a trap
    // with memory past half its limit is reported as out of memory (the pages in use are in the message).
    const pages = this.memory.buffer.byteLength / PAGE;
    if (running && message === 'unreachable' && pages * 2 >= this.maxPages) {
      return new EndpointOutOfMemoryError(
        `endpoint "${endpoint}" trapped (${message}) with ${pages} of its ${this.maxPages} memory pages in use`,
        { endpoint, cause: err },
      );
    }
    const what = err instanceof RangeError ? 'overflowed its stack' : 'trapped';
    return new EndpointTrapError(`endpoint "${endpoint}" ${what}: ${message}`, { endpoint, cause: err });
  }

  private readResponse(descriptor: number): EndpointResponse {
    this.refreshViews();
    const bad = (why: string) => {
      this.usable = false;
      interruptSlots().release(this.slot);
      return new EndpointBadResponseError(`endpoint "${this.endpoint}" returned ${why}`, {
        endpoint: this.endpoint,
      });
    };
    if (descriptor <= 0 || descriptor + 8 > this.bytes.length)
      throw bad('an out-of-bounds response descriptor');
    const ptr = this.view.getUint32(descriptor, true);
    const len = this.view.getUint32(descriptor + 4, true);
    if (ptr + len > this.bytes.length) throw bad('an out-of-bounds response');
    if (len > this.limits.maxResponseBytes) {
      throw bad(`a response of ${len} bytes, over the limit of ${this.limits.maxResponseBytes}`);
    }
    let res: EndpointResponse;
    try {
      res = decodeResponse(this.bytes.subarray(ptr, ptr + len));
    } catch (err) {
      throw bad(`a malformed response (${(err as Error).message})`);
    }
    if (res.status < 100 || res.status > 599) throw bad(`an invalid status ${res.status}`);
    return res;
  }

  private refreshViews(): void {
    if (this.bytes.byteLength !== this.memory.buffer.byteLength || this.bytes.buffer !== this.memory.buffer) {
      this.bytes = new Uint8Array(this.memory.buffer);
      this.view = new DataView(this.memory.buffer);
    }
  }

  /** Bounds-checked view of module memory; a bad pointer traps the module. */
  private region(ptr: number, len: number, what: string): Uint8Array {
    this.refreshViews();
    const p = ptr >>> 0;
    const l = len >>> 0;
    if (p + l > this.bytes.length) {
      throw new EndpointTrapError(
        `endpoint "${this.endpoint}" passed an out-of-bounds ${what} to a host function`,
        {
          endpoint: this.endpoint,
        },
      );
    }
    return this.bytes.subarray(p, p + l);
  }

  private str(ptr: number, len: number, what: string): string {
    return decoder.decode(this.region(ptr, len, what));
  }

  private stage(bytes: Uint8Array): number {
    this.staged = bytes;
    return bytes.length;
  }

  /** Decodes an AssemblyScript string (UTF-16, byte length in the header word before it) for abort messages. */
  private asString(ptr: number): string {
    this.refreshViews();
    if (ptr < 4 || ptr > this.bytes.length) return '';
    const len = this.view.getUint32(ptr - 4, true);
    if (ptr + len > this.bytes.length || len > 4096) return '';
    return Buffer.from(this.bytes.subarray(ptr, ptr + (len & ~1))).toString('utf16le');
  }

  private imports(): WebAssembly.Imports {
    const limits = this.limits;
    const storeOp = <T>(op: () => MaybePromise<T>, ok: (v: T) => number): MaybePromise<number> => {
      try {
        const r = op();
        if (!isPromise(r)) return ok(r);
        this.pauseCpu();
        return r.then(
          (v) => {
            this.resumeCpu();
            return ok(v);
          },
          () => {
            this.resumeCpu();
            return -2;
          },
        );
      } catch {
        return -2;
      }
    };
    const key = (ptr: number, len: number): string | undefined =>
      len >>> 0 > limits.maxKeyBytes ? undefined : this.str(ptr, len, 'key');

    const roam: Record<string, WebAssembly.ImportValue> = {
      kv_get: (sp: number, sl: number, kp: number, kl: number) => {
        const store = this.str(sp, sl, 'store name');
        const k = key(kp, kl);
        if (k === undefined) return -2;
        return storeOp(
          () => this.services.kvGet(store, k),
          (v) => (v === undefined ? -1 : this.stage(v)),
        );
      },
      kv_put: (sp: number, sl: number, kp: number, kl: number, vp: number, vl: number) => {
        const store = this.str(sp, sl, 'store name');
        const k = key(kp, kl);
        if (k === undefined || vl >>> 0 > limits.maxValueBytes) return -2;
        const value = this.region(vp, vl, 'value').slice();
        return storeOp(
          () => this.services.kvPut(store, k, value),
          () => 0,
        );
      },
      kv_delete: (sp: number, sl: number, kp: number, kl: number) => {
        const store = this.str(sp, sl, 'store name');
        const k = key(kp, kl);
        if (k === undefined) return -2;
        return storeOp(
          () => this.services.kvDelete(store, k),
          (deleted) => (deleted ? 1 : 0),
        );
      },
      kv_list: (sp: number, sl: number, pp: number, pl: number, limit: number) => {
        const store = this.str(sp, sl, 'store name');
        const prefix = key(pp, pl);
        if (prefix === undefined) return -2;
        return storeOp(
          () => this.services.kvList(store, prefix, Math.max(0, limit)),
          (keys) => this.stage(encodeKeyList(keys)),
        );
      },
      call: (np: number, nl: number, rp: number, rl: number) => {
        const name = this.str(np, nl, 'endpoint name');
        let req: EndpointRequest;
        try {
          req = decodeRequest(this.region(rp, rl, 'request'));
        } catch {
          return -4;
        }
        this.pauseCpu();
        return this.services.call(name, req, this.traceparent).then(
          (res) => {
            this.resumeCpu();
            return this.stage(encodeResponse(res));
          },
          (err) => {
            this.resumeCpu();
            return err instanceof NotFoundError ? -3 : -4;
          },
        );
      },
      result_read: (dst: number, len: number) => {
        const staged = this.staged;
        if (staged === undefined) return 0;
        const n = Math.min(len >>> 0, staged.length);
        this.region(dst, n, 'result buffer').set(staged.subarray(0, n));
        this.staged = undefined;
        return n;
      },
      log: (level: number, ptr: number, len: number) => {
        if (++this.logLines > limits.maxLogLines) return;
        this.services.log(level, this.str(ptr, Math.min(len >>> 0, 4096), 'log message'));
      },
      now_ns: () => performance.now() * 1e6,
      random_fill: (ptr: number, len: number) => {
        const region = this.region(ptr, len, 'random buffer');
        for (let off = 0; off < region.length; off += 65536) {
          webcrypto.getRandomValues(region.subarray(off, Math.min(off + 65536, region.length)));
        }
      },
      [INTERRUPT_IMPORT.name]: this.slot.memory,
    };
    if (this.suspends) {
      for (const name of SUSPENDING_IMPORTS) {
        const fn = roam[name] as (...args: number[]) => unknown;
        roam[name] = new WebAssembly.Suspending(fn) as unknown as WebAssembly.ImportValue;
      }
    }
    return {
      roam,
      env: {
        memory: this.memory,
        abort: (msg: number, file: number, line: number, col: number) => {
          this.abortMessage = `${this.asString(msg) || 'abort'} at ${this.asString(file) || '?'}:${line}:${col}`;
          throw new EndpointTrapError(`endpoint "${this.endpoint}" aborted: ${this.abortMessage}`, {
            endpoint: this.endpoint,
          });
        },
        seed: () => Math.random() * 2 ** 52,
        trace: (msg: number) => this.services.log(0, `trace: ${this.asString(msg)}`),
      },
    };
  }
}
