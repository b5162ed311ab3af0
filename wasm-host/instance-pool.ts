// Warm instances of one endpoint version on one thread: invocations take an idle instance or make one, and
// give it back unless it trapped. Warming makes instances before the first request so it pays no start-up.
import type { EndpointRequest, EndpointResponse } from './abi.ts';
import type { HostServices } from './host-services.ts';
import { EndpointInstance, type InvocationContext, type LoadedModule } from './instance.ts';
import type { Limits } from './limits.ts';
import type { MaybePromise } from './stores/index.ts';

/** Idle instances a pool keeps; more are disposed as they come back (so warming past it is pointless). */
export const MAX_IDLE = 16;

export class InstancePool {
  readonly endpoint: string;
  readonly loaded: LoadedModule;
  private readonly services: HostServices;
  private readonly limits: Limits;
  private readonly maxIdle: number;
  private readonly idle: EndpointInstance[] = [];
  private closed = false;
  created = 0;

  constructor(
    endpoint: string,
    loaded: LoadedModule,
    services: HostServices,
    limits: Limits,
    maxIdle = MAX_IDLE,
  ) {
    this.endpoint = endpoint;
    this.loaded = loaded;
    this.services = services;
    this.limits = limits;
    this.maxIdle = maxIdle;
  }

  warm(count: number): void {
    while (this.idle.length < count) this.idle.push(this.create());
  }

  private create(): EndpointInstance {
    this.created++;
    return new EndpointInstance(this.endpoint, this.loaded, this.services, this.limits);
  }

  invoke(req: EndpointRequest, ctx?: InvocationContext): MaybePromise<EndpointResponse> {
    const inst = this.idle.pop() ?? this.create();
    let result: MaybePromise<EndpointResponse>;
    try {
      result = inst.invoke(req, ctx);
    } catch (err) {
      this.giveBack(inst);
      throw err;
    }
    if (result instanceof Promise) {
      return result.finally(() => this.giveBack(inst));
    }
    this.giveBack(inst);
    return result;
  }

  private giveBack(inst: EndpointInstance): void {
    if (inst.usable && !this.closed && this.idle.length < this.maxIdle) this.idle.push(inst);
    else inst.dispose();
  }

  /** Disposes idle instances now and busy ones when they come back. */
  close(): void {
    this.closed = true;
    for (const inst of this.idle) inst.dispose();
    this.idle.length = 0;
  }
}
