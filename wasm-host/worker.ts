// Piscina worker entry: runs endpoint invocations off the host's event loop. Compiled modules arrive once per
// worker on a broadcast channel (or with a task, for a worker started after the broadcast); each worker keeps
// warm instances per endpoint version. Errors travel back as {code, message} so they keep their class.
import { BroadcastChannel, type MessagePort, threadId, workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { toRoamError } from '../core/errors.ts';
import { decodeRequest, encodeResponse } from './abi.ts';
import type { InvocationCost } from './accounting.ts';
import { portServices } from './host-calls.ts';
import type { HostServices } from './host-services.ts';
import type { LoadedModule } from './instance.ts';
import { InstancePool } from './instance-pool.ts';
import type { Limits } from './limits.ts';
import { attachWatchdog, CancelCell, sharedNow } from './watchdog.ts';

export interface WorkerTask {
  endpoint: string;
  digest: string;
  limits: Limits;
  /** The request, encoded per the ABI (transferred, not copied). */
  request: Uint8Array;
  traceparent?: string;
  /** Present when the module imports host calls; see host-calls.ts. */
  port?: MessagePort;
  /** Sent again only when this worker reported the module missing. */
  loaded?: LoadedModule;
  /** Measure this invocation's CPU time and memory (a sampled invocation). */
  measure?: boolean;
  /** The words of the invocation's CancelCell (shared memory), when its caller may give up on it. */
  cancel?: Int32Array;
}

/** Broadcast when an endpoint version is activated: the compiled module, and what to warm. */
export interface ModuleAnnouncement {
  loaded: LoadedModule;
  endpoint: string;
  limits: Limits;
}

/** A measured invocation's encoded response (moved, not copied) with what it cost the worker. */
export interface MeasuredResult {
  response: Uint8Array;
  cost: InvocationCost;
}

/** The encoded response (moved, not copied), or why there is none. */
export type WorkerResult =
  | Uint8Array
  | MeasuredResult
  | { code: string; message: string }
  | { missing: true };

attachWatchdog(workerData.watchdog as SharedArrayBuffer);

// Liveness: a slot in the pool's heartbeat table, stamped while the event loop turns (see WorkerPool).
{
  const buffer = workerData.heartbeat as SharedArrayBuffer;
  const slots = (buffer.byteLength - 8) / 12;
  const slot = Atomics.add(new Int32Array(buffer, 0, 1), 0, 1) % slots;
  const beats = new Float64Array(buffer, 8 + slots * 4, slots);
  beats[slot] = sharedNow();
  Atomics.store(new Int32Array(buffer, 8, slots), slot, threadId);
  setInterval(() => {
    beats[slot] = sharedNow();
  }, 100).unref();
}
const modules = new Map<string, LoadedModule>();
const channel = new BroadcastChannel(workerData.moduleChannel as string);
channel.onmessage = (event) => {
  const { loaded, endpoint, limits } = (event as MessageEvent).data as ModuleAnnouncement;
  modules.set(loaded.digest, loaded);
  try {
    poolFor({ endpoint, digest: loaded.digest, limits }, loaded).warm(1);
  } catch {
    // A module that cannot start fails its activation on the host's main thread already.
  }
};
channel.unref();

const pools = new Map<string, InstancePool>();

// Instances' own services: only the start function uses them, and it may not make host calls from a worker.
const noServices: HostServices = {
  kvGet: () => Promise.reject(new Error('host calls are not available during start-up')),
  kvPut: () => Promise.reject(new Error('host calls are not available during start-up')),
  kvDelete: () => Promise.reject(new Error('host calls are not available during start-up')),
  kvList: () => Promise.reject(new Error('host calls are not available during start-up')),
  call: () => Promise.reject(new Error('host calls are not available during start-up')),
  log: () => {},
};

// One pool per endpoint: a task for a new version replaces the old version's instances, which keeps a
// worker's memory bounded by the endpoints it serves rather than by every version ever deployed.
function poolFor(
  task: Pick<WorkerTask, 'endpoint' | 'digest' | 'limits'>,
  loaded: LoadedModule,
): InstancePool {
  let pool = pools.get(task.endpoint);
  if (pool === undefined || pool.loaded.digest !== task.digest) {
    pool?.close();
    pool = new InstancePool(task.endpoint, loaded, noServices, task.limits);
    pools.set(task.endpoint, pool);
  }
  return pool;
}

export default async function run(task: WorkerTask): Promise<WorkerResult> {
  if (task.loaded) modules.set(task.digest, task.loaded);
  const loaded = modules.get(task.digest);
  if (loaded === undefined) return { missing: true };
  const services = task.port ? portServices(task.port) : undefined;
  const cost: InvocationCost | undefined = task.measure ? { cpuMicros: 0, memoryBytes: 0 } : undefined;
  try {
    const response = await poolFor(task, loaded).invoke(decodeRequest(task.request), {
      traceparent: task.traceparent,
      services,
      cost,
      cancel: task.cancel && new CancelCell(task.cancel),
    });
    const encoded = encodeResponse(response);
    // piscina transfers a moved value only when it is the whole result: a measured one goes as a Transferable
    // whose value carries the cost beside the response.
    if (cost === undefined) return move(encoded) as Uint8Array;
    const measured: MeasuredResult = { response: encoded, cost };
    return move({
      [transferableSymbol]: encoded.buffer,
      [valueSymbol]: measured,
    }) as unknown as MeasuredResult;
  } catch (err) {
    const e = toRoamError(err, task.endpoint);
    return { code: e.code, message: e.message };
  } finally {
    task.port?.close();
  }
}
