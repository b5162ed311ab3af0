// Exact per-endpoint accounting of host calls: for each data store and each callee endpoint, how many calls,
// how many bytes each way and how long they took. This is the data-locality and call-graph signal the
// profiler reads; it is kept as plain counters so recording costs a few additions.

export interface StoreUsage {
  gets: number;
  puts: number;
  deletes: number;
  lists: number;
  errors: number;
  /** Bytes sent to the store: keys, prefixes and values written. */
  bytesSent: number;
  /** Bytes received from the store: values and keys read. */
  bytesReceived: number;
  timeMs: number;
}

export interface CalleeUsage {
  calls: number;
  errors: number;
  requestBytes: number;
  responseBytes: number;
  timeMs: number;
}

export interface EndpointUsage {
  invocations: number;
  /** Invocations that failed, cancelled ones aside. */
  errors: number;
  timeouts: number;
  traps: number;
  /** Invocations stopped because their caller went away (not the endpoint's failure, so not in `errors`). */
  cancelled: number;
  requestBytes: number;
  responseBytes: number;
  /** Time spent inside invocations, host calls included. */
  timeMs: number;
  /**
   * CPU time the module took on the thread that ran it, summed over the sampled invocations (every
   * CPU_SAMPLE_EVERY-th): its synchronous segments, waits on host calls excluded (instance.ts says how it is
   * clocked). Per call: cpuMicros / cpuSamples.
   */
  cpuMicros: number;
  cpuSamples: number;
  /** Linear memory of the instance that served the last sampled invocation, in bytes. */
  memoryBytes: number;
  stores: Record<string, StoreUsage>;
  callees: Record<string, CalleeUsage>;
}

export function newUsage(): EndpointUsage {
  return {
    invocations: 0,
    errors: 0,
    timeouts: 0,
    traps: 0,
    cancelled: 0,
    requestBytes: 0,
    responseBytes: 0,
    timeMs: 0,
    cpuMicros: 0,
    cpuSamples: 0,
    memoryBytes: 0,
    stores: {},
    callees: {},
  };
}

export function storeUsage(u: EndpointUsage, store: string): StoreUsage {
  let s = u.stores[store];
  if (s === undefined) {
    s = { gets: 0, puts: 0, deletes: 0, lists: 0, errors: 0, bytesSent: 0, bytesReceived: 0, timeMs: 0 };
    u.stores[store] = s;
  }
  return s;
}

export function calleeUsage(u: EndpointUsage, callee: string): CalleeUsage {
  let c = u.callees[callee];
  if (c === undefined) {
    c = { calls: 0, errors: 0, requestBytes: 0, responseBytes: 0, timeMs: 0 };
    u.callees[callee] = c;
  }
  return c;
}

/** What one invocation cost the thread that ran it; measured on sampled invocations only. */
export interface InvocationCost {
  cpuMicros: number;
  memoryBytes: number;
}

/** One invocation in this many has its CPU time and memory measured, so that most invocations pay nothing. */
export const CPU_SAMPLE_EVERY = 8;
