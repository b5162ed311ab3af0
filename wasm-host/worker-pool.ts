// The host's worker threads (piscina), shared by every endpoint that runs on workers. Threads start with the
// host so an activation never waits for one to boot. Compiled modules are broadcast to the workers once;
// a task that lands on a worker without the module is sent again with it.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { BroadcastChannel, MessageChannel, type TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { EndpointTimeoutError, errorFromCode, OverloadedError } from '../core/errors.ts';
import { moduleUrl } from '../core/paths.ts';
import { decodeResponse, type EndpointRequest, type EndpointResponse, encodeRequest } from './abi.ts';
import { serveHostCalls } from './host-calls.ts';
import { type InvocationContext, type LoadedModule, maySuspend } from './instance.ts';
import type { Limits } from './limits.ts';
import { sharedNow, watchdogControl } from './watchdog.ts';
import type { ModuleAnnouncement, WorkerResult, WorkerTask } from './worker.ts';

export interface WorkerPoolOptions {
  minThreads?: number;
  maxThreads?: number;
  /** Invocations one worker interleaves; more than one lets modules waiting on host calls share a thread. */
  concurrentTasksPerWorker?: number;
  /** Tasks queued beyond busy workers before invocations are refused as overloaded. */
  maxQueue?: number;
  /**
   * A worker whose event loop has not turned for this long is wedged: it is terminated and replaced (its
   * tasks fail). The watchdog interrupt stops Wasm long before; this is the backstop. Kept above the largest
   * invocation deadline.
   */
  wedgedAfterMs?: number;
}

/** Slots in the heartbeat table: more than any pool's thread count (a multiple of 2 keeps beats aligned). */
const HEARTBEAT_SLOTS = 256;
const HEARTBEAT_CHECK_MS = 500;

export class WorkerPool {
  private readonly piscina: Piscina;
  private readonly channel: BroadcastChannel;
  private readonly maxQueue: number;
  /** Per slot: the worker's thread id, and its last heartbeat on the shared clock. */
  private readonly heartbeatIds: Int32Array;
  private readonly heartbeats: Float64Array;
  private readonly livenessTimer: NodeJS.Timeout;
  private wedgedAfterMs: number;
  private readonly fixedWedge: boolean;
  replacedWorkers = 0;

  constructor(options: WorkerPoolOptions = {}) {
    const moduleChannel = `roam-modules-${randomUUID()}`;
    this.channel = new BroadcastChannel(moduleChannel);
    this.channel.unref();
    const maxThreads = options.maxThreads ?? Math.max(1, availableParallelism());
    this.maxQueue = options.maxQueue ?? 1024;
    this.wedgedAfterMs = options.wedgedAfterMs ?? 10_000;
    this.fixedWedge = options.wedgedAfterMs !== undefined;
    // Layout: an Int32 slot counter (padded to 8 bytes), the thread id of each slot, its last beat.
    const heartbeat = new SharedArrayBuffer(8 + HEARTBEAT_SLOTS * 12);
    this.heartbeatIds = new Int32Array(heartbeat, 8, HEARTBEAT_SLOTS);
    this.heartbeats = new Float64Array(heartbeat, 8 + HEARTBEAT_SLOTS * 4, HEARTBEAT_SLOTS);
    this.piscina = new Piscina({
      filename: moduleUrl('wasm-host/worker.ts').href,
      minThreads: Math.min(options.minThreads ?? maxThreads, maxThreads),
      maxThreads,
      // Invocations share a worker while they wait on host calls. No task carries an abort signal: piscina
      // would then give each one a worker of its own, and an endpoint calling another on the same host
      // could wait for a free worker forever. Stuck Wasm is stopped by the watchdog's interrupt instead.
      // An invocation waiting on a call still holds its slot, so slots must outnumber the callers that can
      // wait at once: with 8, a burst of checkouts held every slot while the carts they called queued behind
      // them (seen in `roam up`). Waiting invocations cost an instance each (~128 KB), not CPU.
      concurrentTasksPerWorker: options.concurrentTasksPerWorker ?? 64,
      idleTimeout: 60_000,
      // An idle worker must keep its event loop turning: it stamps the liveness heartbeat and takes module
      // announcements from there. piscina's default ('sync') blocks an idle worker in Atomics.wait, so every
      // worker idle for wedgedAfterMs looked wedged and was terminated, with any task handed to it as it went
      // (seen as 504s under the adaptive benchmark). Measured side by side: 130 us median per invocation
      // either way.
      atomics: 'async',
      workerData: { watchdog: watchdogControl(), moduleChannel, heartbeat },
    });
    this.livenessTimer = setInterval(() => this.replaceWedged(), HEARTBEAT_CHECK_MS);
    this.livenessTimer.unref();
  }

  /** Raises the wedge threshold so that it stays above `deadlineMs` (a new endpoint's deadline). */
  allowDeadline(deadlineMs: number): void {
    if (!this.fixedWedge) this.wedgedAfterMs = Math.max(this.wedgedAfterMs, deadlineMs * 2 + 1000);
  }

  private replaceWedged(): void {
    const now = sharedNow();
    for (let slot = 0; slot < HEARTBEAT_SLOTS; slot++) {
      const threadId = this.heartbeatIds[slot]!;
      if (threadId === 0 || now - this.heartbeats[slot]! < this.wedgedAfterMs) continue;
      const worker = this.piscina.threads.find((t) => t.threadId === threadId);
      this.heartbeatIds[slot] = 0;
      if (worker) {
        this.replacedWorkers++;
        void worker.terminate();
      }
    }
  }

  /** Makes a compiled module available to every current worker, which warms an instance of `endpoint`. */
  publish(loaded: LoadedModule, endpoint: string, limits: Limits): void {
    this.channel.postMessage({ loaded, endpoint, limits } satisfies ModuleAnnouncement);
  }

  /**
   * Runs one invocation on a worker. `ctx.services` answer its host calls here, on the main thread; with
   * `ctx.cancel`, cancelling stops it on the worker however busy that is (see CancelCell).
   */
  async invoke(
    endpoint: string,
    loaded: LoadedModule,
    limits: Limits,
    req: EndpointRequest,
    ctx: InvocationContext,
  ): Promise<EndpointResponse> {
    if (this.piscina.queueSize >= this.maxQueue) {
      throw new OverloadedError(`worker queue is full (${this.maxQueue} waiting)`, { endpoint });
    }
    let result = await this.runTask(endpoint, loaded, limits, req, ctx, false);
    if ('missing' in result) result = await this.runTask(endpoint, loaded, limits, req, ctx, true);
    if (result instanceof Uint8Array) return decodeResponse(result);
    if ('response' in result) {
      if (ctx.cost) Object.assign(ctx.cost, result.cost);
      return decodeResponse(result.response);
    }
    if ('missing' in result)
      throw errorFromCode('ROAM_ERR_INTERNAL', 'worker lost the module twice', endpoint);
    throw errorFromCode(result.code, result.message, endpoint);
  }

  private async runTask(
    endpoint: string,
    loaded: LoadedModule,
    limits: Limits,
    req: EndpointRequest,
    ctx: InvocationContext,
    withModule: boolean,
  ): Promise<WorkerResult> {
    const request = encodeRequest(req);
    const task: WorkerTask = { endpoint, digest: loaded.digest, limits, request };
    if (ctx.traceparent !== undefined) task.traceparent = ctx.traceparent;
    if (ctx.cost) task.measure = true;
    if (ctx.cancel) task.cancel = ctx.cancel.words;
    if (withModule) task.loaded = loaded;
    const transferList: TransferListItem[] = [request.buffer as ArrayBuffer];
    let channel: MessageChannel | undefined;
    if (maySuspend(loaded.info) && ctx.services) {
      channel = new MessageChannel();
      serveHostCalls(channel.port1, ctx.services);
      task.port = channel.port2;
      transferList.push(channel.port2);
    }
    try {
      return (await this.piscina.run(task, { transferList })) as WorkerResult;
    } catch (err) {
      // piscina rejects the tasks of a worker that exits; here that means the liveness check replaced it.
      throw new EndpointTimeoutError(
        `endpoint "${endpoint}" ran on a worker that stopped responding; it was replaced`,
        {
          endpoint,
          cause: err,
        },
      );
    } finally {
      channel?.port1.close();
    }
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  async close(): Promise<void> {
    clearInterval(this.livenessTimer);
    this.channel.close();
    await this.piscina.destroy();
  }
}
