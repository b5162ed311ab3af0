// Limits and failure paths, under both execution modes: a stuck endpoint is stopped at its deadline and the
// host keeps serving; traps, memory exhaustion and oversize payloads become clear errors naming the endpoint;
// a module that cannot start never becomes active, nor do limits outside their ranges.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModule, request, text } from '../../test/support/modules.ts';
import { type ActivateOptions, type ExecMode, WasmHost } from '../index.ts';

describe.each<ExecMode>(['inline', 'worker'])('%s execution', (exec) => {
  let host: WasmHost;

  beforeAll(async () => {
    host = new WasmHost({
      id: `limits-${exec}`,
      tier: 'cluster',
      exec,
      workers: { minThreads: 2, maxThreads: 2 },
      limits: { timeoutMs: 250, memoryPages: 32, maxRequestBytes: 64 * 1024, maxResponseBytes: 32 * 1024 },
    });
    for (const name of ['loop', 'trap', 'grow', 'echo']) {
      await host.activate(name, host.modules.put(fixtureModule(name)));
    }
  });
  afterAll(() => host.close());

  it('round-trips method, path, query, headers and body through the ABI', async () => {
    const body = new Uint8Array([0, 1, 2, 255, 254]);
    const res = await host.invoke('echo', request('PUT', '/a/b%20c?x=1&y=é', body, [['x-custom', 'värde']]));
    expect(res.status).toBe(200);
    const headers = Object.fromEntries(res.headers);
    expect(headers['x-method']).toBe('PUT');
    expect(headers['x-path']).toBe('/a/b%20c');
    expect(headers['x-query']).toBe('x=1&y=é');
    expect(headers['x-echo-x-custom']).toBe('värde');
    expect(Array.from(res.body)).toEqual(Array.from(body));
  });

  it('stops an endpoint stuck in a loop at its deadline, and the host keeps serving', async () => {
    const stuck = host.invoke('loop', request('GET', '/'));
    // In worker mode other endpoints answer while the loop spins; inline, they answer right after.
    const other = host.invoke('echo', request('GET', '/still-here'));
    await expect(stuck).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_TIMEOUT',
      status: 504,
      endpoint: 'loop',
      message: expect.stringContaining('"loop"'),
    });
    expect(Object.fromEntries((await other).headers)['x-path']).toBe('/still-here');
    // A fresh instance replaces the interrupted one.
    await expect(host.invoke('loop', request('GET', '/'))).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_TIMEOUT',
    });
    const stats = host.stats().find((s) => s.endpoint === 'loop')!;
    expect(stats.usage.timeouts).toBe(2);
  });

  it('turns a trap into a 500 naming the endpoint, then serves the next request', async () => {
    await expect(host.invoke('trap', request('GET', '/'))).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_TRAP',
      status: 500,
      message: expect.stringContaining('"trap"'),
    });
    const res = await host.invoke('echo', request('GET', '/after-trap'));
    expect(res.status).toBe(200);
  });

  it('stops an endpoint at its memory limit with 507', async () => {
    await expect(host.invoke('grow', request('GET', '/'))).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_OUT_OF_MEMORY',
      status: 507,
    });
  });

  it('refuses a request over the size limit with 413 and a response over it with 502', async () => {
    await expect(host.invoke('echo', request('POST', '/', new Uint8Array(70 * 1024)))).rejects.toMatchObject({
      code: 'ROAM_ERR_PAYLOAD_TOO_LARGE',
      status: 413,
    });
    await expect(host.invoke('echo', request('POST', '/', new Uint8Array(40 * 1024)))).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_BAD_RESPONSE',
      status: 502,
    });
    expect(text((await host.invoke('echo', request('POST', '/', 'small'))).body)).toBe('small');
  });

  it('never activates a module that cannot start', async () => {
    const digest = host.modules.put(fixtureModule('startfail'));
    await expect(host.activate('startfail', digest)).rejects.toMatchObject({
      code: 'ROAM_ERR_ENDPOINT_TRAP',
      message: expect.stringContaining('unreachable'),
    });
    expect(host.isActive('startfail')).toBe(false);
  });

  it('refuses limits outside their ranges, naming the field, the value and the range', async () => {
    const digest = host.modules.put(fixtureModule('echo'));
    const refused = async (options: unknown, message: string) =>
      expect(host.activate('echo2', digest, options as ActivateOptions)).rejects.toMatchObject({
        code: 'ROAM_ERR_INVALID_ARGUMENT',
        message: expect.stringContaining(message),
      });
    await refused(
      { limits: { timeoutMs: 'abc' } },
      'limits.timeoutMs must be an integer from 1 to 300000, got "abc"',
    );
    await refused(
      { limits: { timeoutMs: 1e10 } },
      'limits.timeoutMs must be an integer from 1 to 300000, got 10000000000',
    );
    await refused(
      { limits: { memoryPages: 0 } },
      'limits.memoryPages must be an integer from 1 to 65536, got 0',
    );
    await refused(
      { limits: { maxLogLines: 2.5 } },
      'limits.maxLogLines must be an integer from 0 to 100000, got 2.5',
    );
    await refused({ limits: { fuel: 1 } }, 'limits field "fuel" is not one of memoryPages, timeoutMs');
    await refused({ limits: [] }, '"limits" must be an object');
    await refused({ warm: 0 }, 'warm must be an integer from 1 to 16, got 0');
    await refused({ exec: 'gpu' }, '"exec" must be "inline" or "worker", got "gpu"');
    expect(host.isActive('echo2')).toBe(false);
    expect(() => new WasmHost({ id: 'bad', tier: 'edge', limits: { timeoutMs: -1 } })).toThrow(
      expect.objectContaining({
        code: 'ROAM_ERR_INVALID_ARGUMENT',
        message: expect.stringContaining('timeoutMs'),
      }),
    );
  });
});

describe('worker liveness', () => {
  it('replaces a worker whose event loop stops turning, and keeps serving', async () => {
    // A deadline far away and a short wedge threshold: the watchdog stays quiet, so only liveness can act.
    const host = new WasmHost({
      id: 'wedge',
      tier: 'cluster',
      exec: 'worker',
      workers: { minThreads: 1, maxThreads: 1, wedgedAfterMs: 300 },
      limits: { timeoutMs: 60_000 },
    });
    try {
      await host.activate('loop', host.modules.put(fixtureModule('loop')));
      await host.activate('echo', host.modules.put(fixtureModule('echo')));
      await expect(host.invoke('loop', request('GET', '/'))).rejects.toMatchObject({
        code: 'ROAM_ERR_ENDPOINT_TIMEOUT',
        message: expect.stringContaining('was replaced'),
      });
      expect(host.replacedWorkers).toBe(1);
      expect((await host.invoke('echo', request('GET', '/after'))).status).toBe(200);
    } finally {
      await host.close();
    }
  });

  it('leaves a worker that is only idle alone', async () => {
    // An idle worker waits for its next task; it must keep beating while it waits (piscina's default
    // synchronous wait blocked its event loop, so every idle worker looked wedged and was killed, taking any
    // task handed to it at that moment along).
    const host = new WasmHost({
      id: 'idle',
      tier: 'cluster',
      exec: 'worker',
      workers: { minThreads: 1, maxThreads: 1, wedgedAfterMs: 300 },
    });
    try {
      await host.activate('echo', host.modules.put(fixtureModule('echo')));
      expect((await host.invoke('echo', request('GET', '/before'))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1500));
      expect(host.replacedWorkers).toBe(0);
      expect((await host.invoke('echo', request('GET', '/after'))).status).toBe(200);
    } finally {
      await host.close();
    }
  });
});
