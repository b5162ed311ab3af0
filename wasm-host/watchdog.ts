// Wall-clock deadlines for Wasm invocations. Each instance owns an interrupt slot: a one-page shared memory the
// instrumented module reads at every loop head (see interrupt.ts). Word 0 is the state: 0 idle, a positive
// generation while an invocation is armed, its negation once the watchdog fired; bytes 8..16 hold the armed
// deadline (ms on the shared clock). A single watchdog thread per process scans the slots and flips the state
// of any invocation past its deadline, so a busy loop stops even on the event loop, which no timer could
// interrupt. The watchdog flips with compare-and-swap on the generation, so a late scan can never interrupt
// the next invocation on the same slot. Arming costs two stores and an atomic add. A caller that gives up on
// an invocation (CancelCell) flips its state the same way, with a bit that says it was cancelled.
import { BroadcastChannel, isMainThread, Worker } from 'node:worker_threads';
import { moduleUrl } from '../core/paths.ts';

const CHANNEL = 'roam-watchdog';
/**
 * Control words: [0] number of armed slots (the watchdog sleeps while it is 0), [1] next slot id, [2] set to 1
 * once the watchdog listens for slot registrations (a broadcast reaches only channels that already exist).
 */
const CTL_ARMED = 0;
const CTL_NEXT_ID = 1;
const CTL_READY = 2;
const STARTUP_TIMEOUT_MS = 10_000;
/** Set in a flipped state when the caller cancelled; generations stay below it, so it never collides. */
const CANCELLED_BIT = 0x40000000;
const MAX_GENERATION = CANCELLED_BIT - 1;

/** Why an armed invocation was stopped: its deadline passed, or its caller cancelled it. */
export type Interruption = 'deadline' | 'cancelled';

/** The state word of invocation `generation` once stopped for `why`: negative, so its next loop head traps. */
export function flipped(generation: number, why: Interruption): number {
  return -(why === 'cancelled' ? generation | CANCELLED_BIT : generation);
}

function reasonOf(state: number): Interruption | undefined {
  if (state >= 0) return undefined;
  return -state & CANCELLED_BIT ? 'cancelled' : 'deadline';
}

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
    this.channel.postMessage({ id, buffer } satisfies WatchdogMessage);
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
    slot.generation = slot.generation >= MAX_GENERATION ? 1 : slot.generation + 1;
    slot.deadline[0] = sharedNow() + timeoutMs;
    Atomics.store(slot.state, 0, slot.generation);
    if (Atomics.add(this.control, CTL_ARMED, 1) === 0) Atomics.notify(this.control, CTL_ARMED);
  }

  /** Ends the armed invocation; says why it was interrupted, if it was. */
  disarm(slot: InterruptSlot): Interruption | undefined {
    const state = Atomics.exchange(slot.state, 0, 0);
    Atomics.sub(this.control, CTL_ARMED, 1);
    return reasonOf(state);
  }

  /**
   * Ends the armed invocation of a module that is suspended and will not be waited for: its state stays
   * flipped, so if it ever resumes it traps at its next loop head. release() once it has settled.
   */
  abandon(slot: InterruptSlot, why: Interruption): Interruption {
    const state = Atomics.exchange(slot.state, 0, flipped(slot.generation, why));
    Atomics.sub(this.control, CTL_ARMED, 1);
    return reasonOf(state) ?? why;
  }

  /** Cancels invocation `generation` of a slot of this thread, if it is still the one armed. */
  cancel(slot: InterruptSlot, generation: number): void {
    Atomics.compareExchange(slot.state, 0, generation, flipped(generation, 'cancelled'));
  }

  /** Cancels invocation `generation` of slot `id` of another thread: the watchdog thread flips it. */
  cancelElsewhere(id: number, generation: number): void {
    this.channel.postMessage({ id, cancel: generation } satisfies WatchdogMessage);
  }
}

/** To the watchdog thread: a new slot's page, or the cancellation of one invocation of a known slot. */
export type WatchdogMessage = { id: number; buffer: SharedArrayBuffer } | { id: number; cancel: number };

/**
 * One invocation's cancellation, shared by the thread that gave up on it and the thread that runs it (a SAB,
 * so it works while that thread is busy in Wasm). The runner publishes the slot and generation it armed, then
 * reads the flag; the canceller sets the flag, then reads the slot. Both are sequentially consistent, so at
 * least one sees the other: the invocation is flipped either way.
 */
export class CancelCell {
  /** [0] 1 once cancelled, [1] the armed slot's id + 1 (0 before), [2] its generation. */
  readonly words: Int32Array;
  /** The slot armed for this invocation, when it runs on this thread. */
  private slot: InterruptSlot | undefined;

  constructor(words: Int32Array = new Int32Array(new SharedArrayBuffer(12))) {
    this.words = words;
  }

  get cancelled(): boolean {
    return Atomics.load(this.words, 0) === 1;
  }

  /** Canceller: stops the invocation at its next loop head, or before it starts. */
  cancel(): void {
    Atomics.store(this.words, 0, 1);
    const id = Atomics.load(this.words, 1) - 1;
    if (id < 0) return;
    const generation = Atomics.load(this.words, 2);
    if (this.slot) interruptSlots().cancel(this.slot, generation);
    else interruptSlots().cancelElsewhere(id, generation);
  }

  /** Runner, right after arming `slot`. */
  armed(slot: InterruptSlot): void {
    this.slot = slot;
    Atomics.store(this.words, 2, slot.generation);
    Atomics.store(this.words, 1, slot.id + 1);
    if (Atomics.load(this.words, 0) === 1) interruptSlots().cancel(slot, slot.generation);
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
    const thread = new Worker(moduleUrl('wasm-host/watchdog-thread.ts'), { workerData: { control } });
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
