// The host's worker threads (piscina), shared by every endpoint that runs on workers. Threads start with the
// host so an activation never waits for one to boot. Compiled modules are broadcast to the workers once;
// a task that lands on a worker without the module is sent again with it.
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { BroadcastChannel, MessageChannel, type TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { EndpointTimeoutError, errorFromCode, OverloadedError } from '../core/errors.ts';
import { decodeResponse, type EndpointRequest, type EndpointResponse, encodeRequest } from './abi.ts';
import { serveHostCalls } from './host-calls.ts';
import type { HostServices } from './host-services.ts';
import { type LoadedModule, maySuspend } from './instance.ts';
import type { Limits } from './limits.ts';
import { watchdogControl } from './watchdog.ts';
import type { WorkerResult, WorkerTask } from './worker.ts';

export interface WorkerPoolOptions {
  minThreads?: number;
  maxThreads?: number;
  /** Invocations one worker interleaves; more than one lets modules waiting on host calls share a thread. */
  concurrentTasksPerWorker?: number;
  /** Tasks queued beyond busy workers before invocations are refused as overloaded. */
  maxQueue?: number;
}

/** How long past an invocation's deadline a worker may stay silent before it is terminated and replaced. */
const BACKSTOP_GRACE_MS = 1000;

export class WorkerPool {
  private readonly piscina: Piscina;
  private readonly channel: BroadcastChannel;
  private readonly maxQueue: number;

  constructor(options: WorkerPoolOptions = {}) {
    const moduleChannel = `roam-modules-${randomUUID()}`;
    this.channel = new BroadcastChannel(moduleChannel);
    this.channel.unref();
    const maxThreads = options.maxThreads ?? Math.max(1, availableParallelism());
    this.maxQueue = options.maxQueue ?? 1024;
    this.piscina = new Piscina({
      filename: new URL('./worker.ts', import.meta.url).href,
      minThreads: Math.min(options.minThreads ?? maxThreads, maxThreads),
      maxThreads,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker ?? 8,
      idleTimeout: 60_000,
      workerData: { watchdog: watchdogControl(), moduleChannel },
    });
  }

  /** Makes a compiled module available to every current worker. */
  publish(loaded: LoadedModule): void {
    this.channel.postMessage(loaded);
  }

  async invoke(
    endpoint: string,
    loaded: LoadedModule,
    limits: Limits,
    services: HostServices,
    req: EndpointRequest,
    traceparent?: string,
  ): Promise<EndpointResponse> {
    if (this.piscina.queueSize >= this.maxQueue) {
      throw new OverloadedError(`worker queue is full (${this.maxQueue} waiting)`, { endpoint });
    }
    let result = await this.runTask(endpoint, loaded, limits, services, req, traceparent, false);
    if ('missing' in result) {
      result = await this.runTask(endpoint, loaded, limits, services, req, traceparent, true);
    }
    if (result instanceof Uint8Array) return decodeResponse(result);
    if ('missing' in result)
      throw errorFromCode('ROAM_ERR_INTERNAL', 'worker lost the module twice', endpoint);
    throw errorFromCode(result.code, result.message, endpoint);
  }

  private async runTask(
    endpoint: string,
    loaded: LoadedModule,
    limits: Limits,
    services: HostServices,
    req: EndpointRequest,
    traceparent: string | undefined,
    withModule: boolean,
  ): Promise<WorkerResult> {
    const request = encodeRequest(req);
    const task: WorkerTask = { endpoint, digest: loaded.digest, limits, request };
    if (traceparent !== undefined) task.traceparent = traceparent;
    if (withModule) task.loaded = loaded;
    const transferList: TransferListItem[] = [request.buffer as ArrayBuffer];
    let channel: MessageChannel | undefined;
    if (maySuspend(loaded.info)) {
      channel = new MessageChannel();
      serveHostCalls(channel.port1, services);
      task.port = channel.port2;
      transferList.push(channel.port2);
    }
    try {
      return (await this.piscina.run(task, {
        transferList,
        signal: AbortSignal.timeout(limits.timeoutMs + BACKSTOP_GRACE_MS),
      })) as WorkerResult;
    } catch (err) {
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') {
        throw new EndpointTimeoutError(
          `endpoint "${endpoint}" did not return within its deadline; its worker was replaced`,
          { endpoint, cause: err },
        );
      }
      throw err;
    } finally {
      channel?.port1.close();
    }
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  async close(): Promise<void> {
    this.channel.close();
    await this.piscina.destroy();
  }
}
