// The watchdog thread (see watchdog.ts): sleeps while no invocation is armed, otherwise scans the slots every
// tick and fires each armed one past its deadline; flips the invocations other threads cancel.
import { BroadcastChannel, workerData } from 'node:worker_threads';
import { flipped, sharedNow, WATCHDOG, type WatchdogMessage } from './watchdog.ts';

const TICK_MS = 2;
const control = new Int32Array(workerData.control as SharedArrayBuffer);
const slots: { state: Int32Array; deadline: Float64Array }[] = [];
/** Cancellations of slots whose registration has not arrived yet (they come from different threads). */
const early = new Map<number, number>();

function cancel(id: number, generation: number): void {
  const slot = slots[id];
  if (slot === undefined) early.set(id, generation);
  else Atomics.compareExchange(slot.state, 0, generation, flipped(generation, 'cancelled'));
}

const channel = new BroadcastChannel(WATCHDOG.CHANNEL);
channel.onmessage = (event) => {
  const msg = (event as MessageEvent).data as WatchdogMessage;
  if ('cancel' in msg) return cancel(msg.id, msg.cancel);
  slots[msg.id] = { state: new Int32Array(msg.buffer, 0, 1), deadline: new Float64Array(msg.buffer, 8, 1) };
  const generation = early.get(msg.id);
  if (generation !== undefined) {
    early.delete(msg.id);
    cancel(msg.id, generation);
  }
};
Atomics.store(control, WATCHDOG.CTL_READY, 1);
Atomics.notify(control, WATCHDOG.CTL_READY);

// Messages (slot registrations, cancellations) are only delivered between scans, so the loop yields to the
// event loop.
function scan(): void {
  if (Atomics.load(control, WATCHDOG.CTL_ARMED) <= 0) {
    // Block until something is armed, but wake regularly to take in slot registrations.
    Atomics.wait(control, WATCHDOG.CTL_ARMED, Atomics.load(control, WATCHDOG.CTL_ARMED), 50);
  } else {
    const now = sharedNow();
    for (const slot of slots) {
      if (slot === undefined) continue;
      const generation = Atomics.load(slot.state, 0);
      if (generation > 0 && slot.deadline[0]! <= now) {
        Atomics.compareExchange(slot.state, 0, generation, flipped(generation, 'deadline'));
      }
    }
  }
  setTimeout(scan, Atomics.load(control, WATCHDOG.CTL_ARMED) > 0 ? TICK_MS : 0);
}
scan();
