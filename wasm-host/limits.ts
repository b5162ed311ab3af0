// Per-instance limits a host enforces on every endpoint it runs; each can be overridden per endpoint.

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

export function resolveLimits(overrides: Partial<Limits> | undefined): Limits {
  return { ...DEFAULT_LIMITS, ...overrides };
}
