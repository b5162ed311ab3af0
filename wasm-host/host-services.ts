// What an endpoint's host functions do, bound to one endpoint: data-store access and calls to other endpoints,
// each accounted (accounting.ts). Local stores answer synchronously, remote stores and calls with promises;
// callers pass either through unchanged so a module only suspends when something is really on the network.
import { EndpointCancelledError, NotFoundError, StoreError, toRoamError } from '../core/errors.ts';
import type { EndpointRequest, EndpointResponse } from './abi.ts';
import { calleeUsage, type EndpointUsage, storeUsage } from './accounting.ts';
import type { DataStore, MaybePromise } from './stores/index.ts';

/** Context of an outbound call, so the mesh can route it and traces can link it to the caller. */
export interface CallContext {
  caller: string;
  /** W3C traceparent of the invocation making the call, if any. */
  traceparent?: string;
  /** Aborts when the calling invocation is cancelled: the call, and the callee, should stop too. */
  signal?: AbortSignal;
}

/** Routes an endpoint-to-endpoint call wherever the callee runs now (provided by the proxy or the host). */
export type EndpointCaller = (
  name: string,
  req: EndpointRequest,
  ctx: CallContext,
) => Promise<EndpointResponse>;

export type StoreResolver = (name: string) => DataStore | undefined;

export type LogSink = (endpoint: string, level: number, message: string) => void;

/** The host functions as one endpoint sees them. */
export interface HostServices {
  kvGet(store: string, key: string): MaybePromise<Uint8Array | undefined>;
  kvPut(store: string, key: string, value: Uint8Array): MaybePromise<void>;
  kvDelete(store: string, key: string): MaybePromise<boolean>;
  kvList(store: string, prefix: string, limit: number): MaybePromise<string[]>;
  call(
    endpoint: string,
    req: EndpointRequest,
    traceparent?: string,
    signal?: AbortSignal,
  ): Promise<EndpointResponse>;
  log(level: number, message: string): void;
}

const MAX_CALLEES = 64;
const OTHER_CALLEES = '(other)';

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return typeof (v as Promise<T>)?.then === 'function';
}

function bodySize(r: { headers: [string, string][]; body: Uint8Array }): number {
  let n = r.body.length;
  for (const [k, v] of r.headers) n += k.length + v.length;
  return n;
}

export function bindHostServices(
  endpoint: string,
  usage: EndpointUsage,
  stores: StoreResolver,
  caller: EndpointCaller | undefined,
  log: LogSink,
): HostServices {
  function resolve(name: string): DataStore {
    const store = stores(name);
    if (store === undefined)
      throw new StoreError(`store "${name}" is not configured on this host`, { endpoint });
    return store;
  }

  // Runs a store operation and accounts it, staying synchronous when the store is.
  // Only configured stores get a counter, so a module cannot grow the accounting with made-up names.
  function accounted<T>(
    name: string,
    kind: 'gets' | 'puts' | 'deletes' | 'lists',
    sent: number,
    op: (store: DataStore) => MaybePromise<T>,
    received: (result: T) => number,
  ): MaybePromise<T> {
    const store = resolve(name);
    const u = storeUsage(usage, name);
    u[kind]++;
    const start = performance.now();
    const done = (result: T): T => {
      u.timeMs += performance.now() - start;
      u.bytesSent += sent;
      u.bytesReceived += received(result);
      return result;
    };
    const fail = (err: unknown): never => {
      u.timeMs += performance.now() - start;
      u.errors++;
      throw err instanceof StoreError
        ? err
        : new StoreError(`store "${name}": ${(err as Error).message}`, { cause: err, endpoint });
    };
    try {
      const result = op(store);
      return isPromise(result) ? result.then(done, fail) : done(result);
    } catch (err) {
      return fail(err);
    }
  }

  return {
    kvGet(store, key) {
      return accounted(
        store,
        'gets',
        Buffer.byteLength(key),
        (s) => s.get(key),
        (v) => v?.length ?? 0,
      );
    },
    kvPut(store, key, value) {
      return accounted(
        store,
        'puts',
        Buffer.byteLength(key) + value.length,
        (s) => s.put(key, value),
        () => 0,
      );
    },
    kvDelete(store, key) {
      return accounted(
        store,
        'deletes',
        Buffer.byteLength(key),
        (s) => s.delete(key),
        () => 0,
      );
    },
    kvList(store, prefix, limit) {
      return accounted(
        store,
        'lists',
        Buffer.byteLength(prefix),
        (s) => s.list(prefix, limit),
        (keys) => keys.reduce((n, k) => n + Buffer.byteLength(k), 0),
      );
    },
    async call(name, req, traceparent, signal) {
      // Callee names come from the module: past a cap they share one counter so memory stays bounded.
      const known = name in usage.callees || Object.keys(usage.callees).length < MAX_CALLEES;
      const u = calleeUsage(usage, known ? name : OTHER_CALLEES);
      u.calls++;
      u.requestBytes += bodySize(req);
      const start = performance.now();
      try {
        if (caller === undefined)
          throw new NotFoundError(`no mesh route for endpoint calls on this host`, { endpoint: name });
        const res = await caller(name, req, { caller: endpoint, traceparent, signal });
        u.responseBytes += bodySize(res);
        return res;
      } catch (err) {
        u.errors++;
        throw toRoamError(err, name);
      } finally {
        u.timeMs += performance.now() - start;
      }
    },
    log(level, message) {
      log(endpoint, level, message);
    },
  };
}

/**
 * The services of one invocation whose caller may give up: once `signal` fires, a host call in progress
 * returns at once as failed and later ones fail right away, so a module waiting on the network wakes up and
 * meets its interrupt. Calls to other endpoints carry the signal, so the callee is cancelled as well; what was
 * already asked of a store completes unwatched.
 */
export function cancellable(services: HostServices, signal: AbortSignal, endpoint: string): HostServices {
  const gone = () =>
    new EndpointCancelledError(`endpoint "${endpoint}" was cancelled: its caller went away`, { endpoint });
  let aborted: Promise<never> | undefined;
  const watch = <T>(op: () => MaybePromise<T>): MaybePromise<T> => {
    if (signal.aborted) throw gone();
    const result = op();
    if (!isPromise(result)) return result;
    aborted ??= new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(gone()), { once: true }),
    );
    return Promise.race([result, aborted]);
  };
  return {
    kvGet: (store, key) => watch(() => services.kvGet(store, key)),
    kvPut: (store, key, value) => watch(() => services.kvPut(store, key, value)),
    kvDelete: (store, key) => watch(() => services.kvDelete(store, key)),
    kvList: (store, prefix, limit) => watch(() => services.kvList(store, prefix, limit)),
    call: async (name, req, traceparent) => watch(() => services.call(name, req, traceparent, signal)),
    log: (level, message) => services.log(level, message),
  };
}
