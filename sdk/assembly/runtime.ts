// Log, clock and randomness host functions, wrapped.
import { log as hostLog, now_ns, random_fill } from "./host";

function emit(level: i32, message: string): void {
  const bytes = String.UTF8.encode(message);
  hostLog(level, changetype<usize>(bytes), bytes.byteLength);
}

export namespace log {
  export function debug(message: string): void {
    emit(0, message);
  }
  export function info(message: string): void {
    emit(1, message);
  }
  export function warn(message: string): void {
    emit(2, message);
  }
  export function error(message: string): void {
    emit(3, message);
  }
}

/** Monotonic time in nanoseconds, from an arbitrary origin. */
export function nowNs(): f64 {
  return now_ns();
}

/** `n` cryptographically secure random bytes. */
export function randomBytes(n: i32): Uint8Array {
  const out = new Uint8Array(n);
  if (n > 0) random_fill(out.dataStart, n);
  return out;
}
