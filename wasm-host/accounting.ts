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
  errors: number;
  timeouts: number;
  traps: number;
  requestBytes: number;
  responseBytes: number;
  /** Time spent inside invocations, host calls included. */
  timeMs: number;
  stores: Record<string, StoreUsage>;
  callees: Record<string, CalleeUsage>;
}

export function newUsage(): EndpointUsage {
  return {
    invocations: 0,
    errors: 0,
    timeouts: 0,
    traps: 0,
    requestBytes: 0,
    responseBytes: 0,
    timeMs: 0,
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
