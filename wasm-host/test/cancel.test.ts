// Cancellation: when the caller of an invocation gives up (its signal aborts), the endpoint still running is
// interrupted and its invocation ends, counted as cancelled, long before its deadline; the host goes on serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModule, request } from '../../test/support/modules.ts';
import { type DataStore, type ExecMode, MemoryStore, WasmHost } from '../index.ts';

/** A store on the network that never answers: a module reading it stays suspended until it is cancelled. */
class SilentStore implements DataStore {
  readonly name = 'slow';
  readonly location = 'far';
  readonly kind = 'remote';
  /** Resolved on each read, so a test knows the module is waiting. */
  private reading: (() => void) | undefined;

  nextRead(): Promise<void> {
    return new Promise((resolve) => {
      this.reading = resolve;
    });
  }

  get(): Promise<Uint8Array | undefined> {
    this.reading?.();
    return new Promise(() => {});
  }
  put(): Promise<void> {
    return new Promise(() => {});
  }
  delete(): Promise<boolean> {
    return new Promise(() => {});
  }
  list(): Promise<string[]> {
    return new Promise(() => {});
  }
  close(): void {}
}

const DEADLINE_MS = 60_000;

describe.each<ExecMode>(['inline', 'worker'])('%s execution', (exec) => {
  let host: WasmHost;
  const store = new SilentStore();

  beforeAll(async () => {
    host = new WasmHost({
      id: `cancel-${exec}`,
      tier: 'cluster',
      exec,
      workers: { minThreads: 1, maxThreads: 1 },
      stores: [store],
      limits: { timeoutMs: DEADLINE_MS },
    });
    for (const name of ['waitloop', 'echo']) await host.activate(name, host.modules.put(fixtureModule(name)));
  });
  afterAll(() => host.close());

  const usage = (endpoint: string) => host.stats().find((s) => s.endpoint === endpoint)!.usage;

  it('interrupts an endpoint waiting on a host call, and again with a fresh instance', async () => {
    for (let round = 1; round <= 2; round++) {
      const caller = new AbortController();
      const read = store.nextRead();
      const running = host.invoke('waitloop', request('GET', '/'), undefined, caller.signal);
      await read;
      caller.abort();
      // The module wakes from its abandoned read into a loop it never leaves: only the interrupt ends it.
      await expect(running).rejects.toMatchObject({
        code: 'ROAM_ERR_ENDPOINT_CANCELLED',
        endpoint: 'waitloop',
      });
      expect(usage('waitloop')).toMatchObject({
        invocations: round,
        cancelled: round,
        errors: 0,
        traps: 0,
        timeouts: 0,
      });
    }
    expect(host.stats().find((s) => s.endpoint === 'waitloop')!.inFlight).toBe(0);
    expect((await host.invoke('echo', request('GET', '/after'))).status).toBe(200);
  });

  it('does not start an invocation whose caller already gave up', async () => {
    await expect(
      host.invoke('echo', request('GET', '/'), undefined, AbortSignal.abort()),
    ).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_CANCELLED',
    });
  });
});

describe('worker execution, computing', () => {
  let host: WasmHost;

  beforeAll(async () => {
    host = new WasmHost({
      id: 'cancel-loop',
      tier: 'cluster',
      exec: 'worker',
      workers: { minThreads: 2, maxThreads: 2 },
      stores: [new MemoryStore('probe', 'here')],
      limits: { timeoutMs: DEADLINE_MS },
    });
    for (const name of ['loop', 'kvprobe', 'echo']) {
      await host.activate(name, host.modules.put(fixtureModule(name)));
    }
  });
  afterAll(() => host.close());

  const stats = (endpoint: string) => host.stats().find((s) => s.endpoint === endpoint)!;

  it('interrupts an endpoint stuck in a loop on a worker, which then serves the next invocation', async () => {
    const caller = new AbortController();
    const running = host.invoke('loop', request('GET', '/'), undefined, caller.signal);
    // Let a worker take the task and spin (cancelling earlier would also end it, before it starts).
    await new Promise((r) => setTimeout(r, 200));
    caller.abort();
    await expect(running).rejects.toMatchObject({ code: 'ROAM_ERR_ENDPOINT_CANCELLED', endpoint: 'loop' });
    expect(stats('loop').usage).toMatchObject({
      invocations: 1,
      cancelled: 1,
      errors: 0,
      traps: 0,
      timeouts: 0,
    });
    expect(stats('loop').inFlight).toBe(0);
    // Both workers answer: had the loop gone on, one of them would still be spinning.
    const after = await Promise.all([1, 2, 3, 4].map(() => host.invoke('echo', request('GET', '/after'))));
    expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(host.replacedWorkers).toBe(0);
  });

  it('cancels the endpoints a cancelled invocation called', async () => {
    const before = { ...stats('loop').usage };
    const caller = new AbortController();
    const running = host.invoke(
      'kvprobe',
      request('GET', '/?store=probe&callee=loop'),
      undefined,
      caller.signal,
    );
    // kvprobe waits on its call to loop, which spins on the other worker.
    while (stats('loop').usage.invocations === before.invocations)
      await new Promise((r) => setTimeout(r, 10));
    caller.abort();
    await expect(running).rejects.toMatchObject({ code: 'ROAM_ERR_ENDPOINT_CANCELLED', endpoint: 'kvprobe' });
    while (stats('loop').inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    expect(stats('loop').usage).toMatchObject({
      invocations: before.invocations + 1,
      cancelled: before.cancelled + 1,
      timeouts: 0,
    });
    expect(stats('kvprobe').usage).toMatchObject({ invocations: 1, cancelled: 1, errors: 0 });
  });
});
