// The Wasm host: activates endpoint versions (compile, warm, ready), invokes them inline on the event loop or
// on worker threads, drains them on deactivation, and keeps per-endpoint stats and host-call accounting.
// The proxy embeds it as the in-process host; `roam host` serves it over HTTP for the other tiers. A caller
// that gives up on an invocation aborts its signal, and the endpoint is interrupted wherever it runs.

import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  EndpointCancelledError,
  EndpointDrainingError,
  EndpointNotActiveError,
  InvalidArgumentError,
  RoamError,
} from '../core/errors.ts';
import { Histogram, type HistogramSnapshot } from '../core/histogram.ts';
import { checkName } from '../core/names.ts';
import type { EndpointRequest, EndpointResponse } from './abi.ts';
import { CPU_SAMPLE_EVERY, type EndpointUsage, type InvocationCost, newUsage } from './accounting.ts';
import {
  bindHostServices,
  cancellable,
  type EndpointCaller,
  type HostServices,
  type LogSink,
} from './host-services.ts';
import { type InvocationContext, type LoadedModule, maySuspend } from './instance.ts';
import { InstancePool, MAX_IDLE } from './instance-pool.ts';
import { checkInteger, checkLimits, type Limits, resolveLimits } from './limits.ts';
import { ModuleStore } from './module-store.ts';
import type { DataStore, MaybePromise } from './stores/index.ts';
import { CancelCell, interruptSlots } from './watchdog.ts';
import type { WorkerPool, WorkerPoolOptions } from './worker-pool.ts';

const tracer = trace.getTracer('roam-host');

export const TIERS = ['in-process', 'cluster', 'edge', 'device'] as const;
export type Tier = (typeof TIERS)[number];
/** inline: on the caller's event loop (sub-microsecond dispatch, for small endpoints); worker: on piscina. */
export type ExecMode = 'inline' | 'worker';

export interface WasmHostOptions {
  id: string;
  tier: Tier;
  /** Site label used to cost access to stores and calls; defaults to the host id. */
  location?: string;
  limits?: Partial<Limits>;
  exec?: ExecMode;
  workers?: WorkerPoolOptions;
  stores?: DataStore[];
  /** Routes endpoint-to-endpoint calls that this host cannot serve itself. */
  caller?: EndpointCaller;
  /** Module blobs on disk; in memory only when absent. */
  moduleDir?: string;
  log?: LogSink;
}

/** Checked by activate() whatever its caller (the host API, a control-plane snapshot): see docs/host-api.md. */
export interface ActivateOptions {
  /** Each within LIMIT_RANGES. */
  limits?: Partial<Limits>;
  exec?: ExecMode;
  /** Instances made before the endpoint reports ready (inline mode): 1 to MAX_IDLE. */
  warm?: number;
}

export interface EndpointStats {
  endpoint: string;
  digest: string;
  exec: ExecMode;
  inFlight: number;
  draining: boolean;
  usage: EndpointUsage;
  latency: { p50: number; p90: number; p99: number; max: number; histogram: HistogramSnapshot };
}

/** What an active endpoint keeps of its code: a component has no single core module, and no ABI v1 imports. */
type Loaded = Pick<LoadedModule, 'digest' | 'info'>;

interface Runner {
  invoke(req: EndpointRequest, ctx: InvocationContext): MaybePromise<EndpointResponse>;
  close(): void;
}

class ActiveEndpoint {
  readonly name: string;
  readonly loaded: Loaded;
  readonly exec: ExecMode;
  readonly limits: Limits;
  readonly services: HostServices;
  readonly runner: Runner;
  readonly usage: EndpointUsage;
  /** A cancellation can reach it while it runs: on a worker, or inline while it waits on a host call. */
  readonly interruptible: boolean;
  readonly latency = new Histogram();
  maxMs = 0;
  inFlight = 0;
  draining = false;
  private idle: (() => void) | undefined;

  constructor(
    name: string,
    loaded: Loaded,
    exec: ExecMode,
    limits: Limits,
    services: HostServices,
    runner: Runner,
    usage: EndpointUsage,
  ) {
    this.name = name;
    this.loaded = loaded;
    this.exec = exec;
    this.limits = limits;
    this.services = services;
    this.runner = runner;
    this.usage = usage;
    this.interruptible = exec === 'worker' || maySuspend(loaded.info);
  }

  settled(): void {
    if (--this.inFlight === 0 && this.idle) this.idle();
  }

  /** Resolves once no invocation is in flight (or after `timeoutMs`, returning false). */
  drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

export class WasmHost {
  readonly id: string;
  readonly tier: Tier;
  readonly location: string;
  readonly modules: ModuleStore;
  private readonly limits: Limits;
  private readonly exec: ExecMode;
  private readonly stores = new Map<string, DataStore>();
  private readonly active = new Map<string, ActiveEndpoint>();
  /** Accounting survives version changes of an endpoint. */
  private readonly usage = new Map<string, EndpointUsage>();
  private readonly options: WasmHostOptions;
  private workers: WorkerPool | undefined;
  private workersStarting: Promise<WorkerPool> | undefined;
  caller: EndpointCaller | undefined;

  constructor(options: WasmHostOptions) {
    if (!(TIERS as readonly string[]).includes(options.tier)) {
      throw new InvalidArgumentError(`tier "${options.tier}" is not one of ${TIERS.join(', ')}`);
    }
    this.options = options;
    this.id = options.id;
    this.tier = options.tier;
    this.location = options.location ?? options.id;
    this.limits = resolveLimits(checkLimits(options.limits));
    this.exec = options.exec ?? 'worker';
    this.modules = new ModuleStore(options.moduleDir);
    this.caller = options.caller;
    for (const s of options.stores ?? []) this.stores.set(s.name, s);
    // A host that runs endpoints on workers starts them, and the watchdog, now: booting them on the first
    // activation would make that endpoint's first answers slow (a migration's verify step would see a
    // regression). An inline host (the sidecar's) starts the watchdog on its first activation and never starts
    // workers unless an endpoint asks for them, so a proxy that only passes traffic through carries neither.
    if (this.exec === 'worker') {
      interruptSlots();
      void this.workerPool();
    }
  }

  private workerPool(): Promise<WorkerPool> {
    this.workersStarting ??= import('./worker-pool.ts').then(({ WorkerPool }) => {
      this.workers = new WorkerPool(this.options.workers);
      return this.workers;
    });
    return this.workersStarting;
  }

  addStore(store: DataStore): void {
    this.stores.set(store.name, store);
  }

  store(name: string): DataStore | undefined {
    return this.stores.get(name);
  }

  private servicesFor(endpoint: string, usage: EndpointUsage): HostServices {
    const log: LogSink = this.options.log ?? (() => {});
    // Calls go through the mesh when the host has one, so they follow the placement in force (the callee may
    // be moving away from here); a host on its own serves the endpoints active on it.
    const caller: EndpointCaller = (name, req, ctx) => {
      if (this.caller) return this.caller(name, req, ctx);
      if (this.active.has(name)) return this.invoke(name, req, ctx.traceparent, ctx.signal);
      return Promise.reject(
        new EndpointNotActiveError(`endpoint "${name}" is not active on host ${this.id} and it has no mesh`, {
          endpoint: name,
        }),
      );
    };
    return bindHostServices(endpoint, usage, (n) => this.stores.get(n), caller, log);
  }

  /**
   * Makes `endpoint` serve module `digest`: compiles it, warms it, and only then swaps it in. A previous
   * version keeps serving until the swap and then drains its in-flight invocations.
   */
  async activate(endpoint: string, digest: string, options: ActivateOptions = {}): Promise<void> {
    checkName(endpoint, 'endpoint');
    const limits = resolveLimits({ ...this.options.limits, ...checkLimits(options.limits) });
    if (options.exec !== undefined && options.exec !== 'inline' && options.exec !== 'worker') {
      throw new InvalidArgumentError(
        `"exec" must be "inline" or "worker", got ${JSON.stringify(options.exec)}`,
      );
    }
    let exec = options.exec ?? this.exec;
    const warm = options.warm === undefined ? 1 : checkInteger('warm', options.warm, 1, MAX_IDLE);
    let usage = this.usage.get(endpoint);
    if (!usage) {
      usage = newUsage();
      this.usage.set(endpoint, usage);
    }
    const services = this.servicesFor(endpoint, usage);
    const component = this.modules.isComponent(digest);
    const loaded: Loaded = component
      ? {
          digest,
          info: {
            memory: { min: 0, max: undefined, shared: false },
            hostImports: [],
            importCount: 0,
            memoryImportCount: 0,
          },
        }
      : await this.modules.load(digest);
    let runner: Runner;
    if (component) {
      // A component's glue is JavaScript on this thread: it runs inline whatever the host's default.
      exec = 'inline';
      const { ComponentRunner } = await import('./component.ts');
      const instance = new ComponentRunner(
        endpoint,
        await this.modules.loadComponent(digest),
        limits,
        this.options.log ?? (() => {}),
      );
      await instance.start();
      runner = { invoke: (req) => instance.invoke(req), close: () => {} };
    } else if (exec === 'inline') {
      const pool = new InstancePool(endpoint, loaded as LoadedModule, services, limits);
      // Warming instantiates at least once, so a module that fails at start-up fails activation, not a request.
      pool.warm(warm);
      runner = {
        invoke: (req, ctx) => pool.invoke(req, ctx),
        close: () => pool.close(),
      };
    } else {
      const workers = await this.workerPool();
      workers.allowDeadline(limits.timeoutMs);
      const module = loaded as LoadedModule;
      workers.publish(module, endpoint, limits);
      // Instantiate once here too, so a module that cannot start fails activation rather than its first request.
      new InstancePool(endpoint, module, services, limits).warm(1);
      runner = {
        invoke: (req, ctx) => workers.invoke(endpoint, module, limits, req, ctx),
        close: () => {},
      };
    }
    const next = new ActiveEndpoint(endpoint, loaded, exec, limits, services, runner, usage);
    const previous = this.active.get(endpoint);
    this.active.set(endpoint, next);
    if (previous) void this.retire(previous, limits.timeoutMs);
  }

  private async retire(ep: ActiveEndpoint, timeoutMs: number): Promise<boolean> {
    const drained = await ep.drain(timeoutMs);
    ep.runner.close();
    return drained;
  }

  /** Stops routing new invocations to `endpoint`, waits for in-flight ones (up to `timeoutMs`), unloads it. */
  async deactivate(endpoint: string, timeoutMs = this.limits.timeoutMs): Promise<{ drained: boolean }> {
    const ep = this.active.get(endpoint);
    if (!ep)
      throw new EndpointNotActiveError(`endpoint "${endpoint}" is not active on host ${this.id}`, {
        endpoint,
      });
    ep.draining = true;
    const drained = await this.retire(ep, timeoutMs);
    if (this.active.get(endpoint) === ep) this.active.delete(endpoint);
    return { drained };
  }

  /** Worker threads terminated and replaced because their event loop stopped turning. */
  get replacedWorkers(): number {
    return this.workers?.replacedWorkers ?? 0;
  }

  isActive(endpoint: string): boolean {
    const ep = this.active.get(endpoint);
    return ep !== undefined && !ep.draining;
  }

  activeDigest(endpoint: string): string | undefined {
    return this.active.get(endpoint)?.loaded.digest;
  }

  /** The endpoint taking new invocations under `endpoint`; 404 if there is none, 503 while it drains. */
  private serving(endpoint: string): ActiveEndpoint {
    const ep = this.active.get(endpoint);
    if (!ep)
      throw new EndpointNotActiveError(`endpoint "${endpoint}" is not active on host ${this.id}`, {
        endpoint,
      });
    if (ep.draining)
      throw new EndpointDrainingError(`endpoint "${endpoint}" is draining on host ${this.id}`, { endpoint });
    return ep;
  }

  /**
   * The largest request `endpoint` takes (its encoded size, body included), or the error its invocation
   * would meet now: a server checks this before it reads a body.
   */
  maxRequestBytes(endpoint: string): number {
    return this.serving(endpoint).limits.maxRequestBytes;
  }

  /**
   * Runs one invocation. When `signal` aborts (the caller gave up: its client went away, its timeout passed),
   * the endpoint is interrupted at its next loop head, or as soon as a host call it waits on is abandoned, and
   * the invocation ends with EndpointCancelledError (counted as `cancelled`). An inline endpoint that
   * computes without waiting holds the event loop, so nothing can abort it before its deadline.
   */
  async invoke(
    endpoint: string,
    req: EndpointRequest,
    traceparent?: string,
    signal?: AbortSignal,
  ): Promise<EndpointResponse> {
    const ep = this.serving(endpoint);
    if (signal?.aborted)
      throw new EndpointCancelledError(`endpoint "${endpoint}" was cancelled before it started`, {
        endpoint,
      });
    const cancel = signal && ep.interruptible ? new CancelCell() : undefined;
    const onAbort = () => cancel?.cancel();
    if (cancel) signal!.addEventListener('abort', onAbort, { once: true });
    const u = ep.usage;
    u.invocations++;
    u.requestBytes += req.body.length;
    ep.inFlight++;
    // The invocation's span is the parent of the calls the endpoint makes, so its traceparent goes down.
    const parent = traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
    const span = tracer.startSpan(
      `invoke ${endpoint}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          'roam.endpoint': endpoint,
          'roam.tier': this.tier,
          'roam.host': this.id,
          'roam.digest': ep.loaded.digest,
        },
      },
      parent,
    );
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(parent, span), carrier);
    const start = performance.now();
    // Sampled from the second invocation on: the first one also pays the lazy compilation of the module.
    const cost: InvocationCost | undefined =
      u.invocations % CPU_SAMPLE_EVERY === 2 % CPU_SAMPLE_EVERY
        ? { cpuMicros: 0, memoryBytes: 0 }
        : undefined;
    try {
      const res = await ep.runner.invoke(req, {
        traceparent: carrier.traceparent ?? traceparent,
        // A cancelled invocation's host calls end at once, so a module waiting on one wakes up to stop.
        services:
          cancel && maySuspend(ep.loaded.info) ? cancellable(ep.services, signal!, endpoint) : ep.services,
        cost,
        cancel,
      });
      u.responseBytes += res.body.length;
      if (cost) {
        u.cpuMicros += cost.cpuMicros;
        u.cpuSamples++;
        u.memoryBytes = cost.memoryBytes;
      }
      span.setAttribute('http.response.status_code', res.status);
      return res;
    } catch (err) {
      // Errors from workers arrive rebuilt from their code, so classify by code rather than by class.
      const code = err instanceof RoamError ? err.code : '';
      if (code === 'ROAM_ERR_ENDPOINT_CANCELLED') u.cancelled++;
      else u.errors++;
      if (code === 'ROAM_ERR_ENDPOINT_TIMEOUT') u.timeouts++;
      else if (code === 'ROAM_ERR_ENDPOINT_TRAP' || code === 'ROAM_ERR_ENDPOINT_OUT_OF_MEMORY') u.traps++;
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span.setAttribute('error.type', code || 'ROAM_ERR_INTERNAL');
      throw err;
    } finally {
      if (cancel) signal!.removeEventListener('abort', onAbort);
      span.end();
      const ms = performance.now() - start;
      u.timeMs += ms;
      ep.latency.record(ms);
      if (ms > ep.maxMs) ep.maxMs = ms;
      ep.settled();
    }
  }

  endpoints(): { endpoint: string; digest: string; exec: ExecMode; draining: boolean }[] {
    return [...this.active.values()].map((ep) => ({
      endpoint: ep.name,
      digest: ep.loaded.digest,
      exec: ep.exec,
      draining: ep.draining,
    }));
  }

  stats(): EndpointStats[] {
    return [...this.active.values()].map((ep) => ({
      endpoint: ep.name,
      digest: ep.loaded.digest,
      exec: ep.exec,
      inFlight: ep.inFlight,
      draining: ep.draining,
      usage: ep.usage,
      latency: {
        p50: ep.latency.quantile(0.5),
        p90: ep.latency.quantile(0.9),
        p99: ep.latency.quantile(0.99),
        max: ep.maxMs,
        histogram: ep.latency.snapshot(),
      },
    }));
  }

  async close(): Promise<void> {
    for (const ep of this.active.values()) ep.runner.close();
    this.active.clear();
    await (await this.workersStarting)?.close();
    for (const s of this.stores.values()) await s.close();
  }
}
