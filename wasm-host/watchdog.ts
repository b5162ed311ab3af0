// Wall-clock deadlines for Wasm invocations. Each instance owns an interrupt slot: a one-page shared memory the
// instrumented module reads at every loop head (see interrupt.ts). Word 0 is the state: 0 idle, a positive
// generation while an invocation is armed, its negation once the watchdog fired; bytes 8..16 hold the armed
// deadline (ms on the shared clock). A single watchdog thread per process scans the slots and flips the state
// of any invocation past its deadline, so a busy loop stops even on the event loop, which no timer could
// interrupt. The watchdog flips with compare-and-swap on the generation, so a late scan can never interrupt
// the next invocation on the same slot. Arming costs two stores and an atomic add.
import { BroadcastChannel, isMainThread, Worker } from 'node:worker_threads';

const CHANNEL = 'roam-watchdog';
/**
 * Control words: [0] number of armed slots (the watchdog sleeps while it is 0), [1] next slot id, [2] set to 1
 * once the watchdog listens for slot registrations (a broadcast reaches only channels that already exist).
 */
const CTL_ARMED = 0;
const CTL_NEXT_ID = 1;
const CTL_READY = 2;
const STARTUP_TIMEOUT_MS = 10_000;

export interface InterruptSlot {
  readonly id: number;
  readonly memory: WebAssembly.Memory;
  readonly state: Int32Array;
  readonly deadline: Float64Array;
  generation: number;
}

/** Milliseconds on a clock every thread of the process shares (performance.now() differs per thread). */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

export class InterruptSlots {
  private readonly control: Int32Array;
  private readonly free: InterruptSlot[] = [];
  private readonly channel = new BroadcastChannel(CHANNEL);

  constructor(control: SharedArrayBuffer) {
    this.control = new Int32Array(control);
    this.channel.unref();
  }

  acquire(): InterruptSlot {
    const reused = this.free.pop();
    if (reused) return reused;
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const buffer = memory.buffer as unknown as SharedArrayBuffer;
    const id = Atomics.add(this.control, CTL_NEXT_ID, 1);
    this.channel.postMessage({ id, buffer });
    return {
      id,
      memory,
      state: new Int32Array(buffer, 0, 1),
      deadline: new Float64Array(buffer, 8, 1),
      generation: 0,
    };
  }

  release(slot: InterruptSlot): void {
    Atomics.store(slot.state, 0, 0);
    this.free.push(slot);
  }

  arm(slot: InterruptSlot, timeoutMs: number): void {
    slot.generation = slot.generation >= 0x3fffffff ? 1 : slot.generation + 1;
    slot.deadline[0] = sharedNow() + timeoutMs;
    Atomics.store(slot.state, 0, slot.generation);
    if (Atomics.add(this.control, CTL_ARMED, 1) === 0) Atomics.notify(this.control, CTL_ARMED);
  }

  /** Ends the armed invocation; returns true if the watchdog had fired for it. */
  disarm(slot: InterruptSlot): boolean {
    const fired = Atomics.exchange(slot.state, 0, 0) < 0;
    Atomics.sub(this.control, CTL_ARMED, 1);
    return fired;
  }
}

let threadSlots: InterruptSlots | undefined;
let control: SharedArrayBuffer | undefined;

/**
 * The interrupt slots of this thread. The main thread starts the watchdog on first use; a worker thread must
 * first be given the main thread's control buffer with attachWatchdog().
 */
export function interruptSlots(): InterruptSlots {
  if (threadSlots) return threadSlots;
  if (!control) {
    if (!isMainThread)
      throw new Error('attachWatchdog() must run in a worker before it instantiates modules');
    control = new SharedArrayBuffer(16);
    const thread = new Worker(new URL('./watchdog-thread.ts', import.meta.url), { workerData: { control } });
    thread.unref();
    // Block once, at first use, until the watchdog listens: a slot registered before that would be lost.
    const words = new Int32Array(control);
    if (Atomics.wait(words, CTL_READY, 0, STARTUP_TIMEOUT_MS) === 'timed-out') {
      throw new Error('the watchdog thread did not start');
    }
  }
  threadSlots = new InterruptSlots(control);
  return threadSlots;
}

/** The buffer a worker thread passes to attachWatchdog(); starts the watchdog if needed. */
export function watchdogControl(): SharedArrayBuffer {
  interruptSlots();
  return control!;
}

export function attachWatchdog(buffer: SharedArrayBuffer): void {
  control ??= buffer;
}

export const WATCHDOG = { CHANNEL, CTL_ARMED, CTL_NEXT_ID, CTL_READY } as const;
