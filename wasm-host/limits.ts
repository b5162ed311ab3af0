// Per-instance limits a host enforces on every endpoint it runs; each can be overridden per endpoint. Limits that
// come from outside (an activation, a flag, a snapshot) are checked against their ranges before any is used.
import { InvalidArgumentError } from '../core/errors.ts';

export interface Limits {
  /** Maximum linear memory of one instance, in 64 KiB pages. */
  memoryPages: number;
  /** Wall-clock deadline of one invocation, host calls included. */
  timeoutMs: number;
  /** Encoded request (method, path, query, headers, body). */
  maxRequestBytes: number;
  /** Encoded response. */
  maxResponseBytes: number;
  /** One value written to a store. */
  maxValueBytes: number;
  /** One store key. */
  maxKeyBytes: number;
  /** Log lines one invocation may emit; the rest are counted and dropped. */
  maxLogLines: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = {
  memoryPages: 256,
  timeoutMs: 2000,
  maxRequestBytes: 8 * 1024 * 1024,
  maxResponseBytes: 8 * 1024 * 1024,
  maxValueBytes: 1024 * 1024,
  maxKeyBytes: 1024,
  maxLogLines: 100,
};

const MAX_BYTES = 64 * 1024 * 1024;

/**
 * The inclusive range of each limit (docs/host-api.md). A deadline past the watchdog's reach or a buffer the
 * host cannot afford is refused rather than clamped: a NaN or huge deadline is never fired and wedged the host.
 */
export const LIMIT_RANGES: Readonly<Record<keyof Limits, readonly [number, number]>> = {
  memoryPages: [1, 65536],
  timeoutMs: [1, 300_000],
  maxRequestBytes: [1, MAX_BYTES],
  maxResponseBytes: [1, MAX_BYTES],
  maxValueBytes: [1, MAX_BYTES],
  maxKeyBytes: [1, 64 * 1024],
  maxLogLines: [0, 100_000],
};

/** A value a client sent, quoted for an error message (and cut short). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 100)}...` : text;
}

/** Returns `value` if it is an integer in [min, max]; otherwise InvalidArgumentError naming `field`. */
export function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${field} must be an integer from ${min} to ${max}, got ${shown(value)}`);
  }
  return value;
}

/** Checks limits that came from outside: an object of known fields, each an integer within its range. */
export function checkLimits(value: unknown): Partial<Limits> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`"limits" must be an object of ${Object.keys(LIMIT_RANGES).join(', ')}`);
  }
  const out: Partial<Limits> = {};
  for (const [field, v] of Object.entries(value)) {
    if (!Object.hasOwn(LIMIT_RANGES, field)) {
      throw new InvalidArgumentError(
        `limits field ${shown(field)} is not one of ${Object.keys(LIMIT_RANGES).join(', ')}`,
      );
    }
    const [min, max] = LIMIT_RANGES[field as keyof Limits];
    // An absent override (undefined, as a spread of optional fields makes) keeps the default.
    if (v !== undefined) out[field as keyof Limits] = checkInteger(`limits.${field}`, v, min, max);
  }
  return out;
}

export function resolveLimits(overrides: Partial<Limits> | undefined): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
