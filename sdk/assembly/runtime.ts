// Logging, the clock and randomness: thin wrappers over the host functions of the same names.
import { log as hostLog, now_ns, random_fill } from "./host";
import { releaseScratch, takeScratch, writeUtf8 } from "./wire";

function emit(level: i32, message: string): void {
  const buf = takeScratch(<usize>String.UTF8.byteLength(message));
  const len = writeUtf8(message, buf);
  hostLog(level, buf, <i32>len);
  releaseScratch(buf);
}

/** Log lines at the host, tagged with the endpoint; rate-limited there. */
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

/** Monotonic time in nanoseconds from an arbitrary origin (exact up to 2^53 ns). */
export function nowNs(): f64 {
  return now_ns();
}

/** `n` cryptographically secure random bytes. */
export function randomBytes(n: i32): Uint8Array {
  const out = new Uint8Array(max(n, 0));
  if (n > 0) random_fill(out.dataStart, n);
  return out;
}
