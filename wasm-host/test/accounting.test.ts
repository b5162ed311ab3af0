// Every host call is accounted per endpoint, exactly: per data store the operations, bytes each way and time,
// per callee the calls, bytes and errors. The profiler's data-locality signal rests on these numbers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endpointModule, fixtureModule, request, text } from '../../test/support/modules.ts';
import { type ExecMode, MemoryStore, WasmHost } from '../index.ts';

describe.each<ExecMode>(['inline', 'worker'])('%s execution', (exec) => {
  let host: WasmHost;

  beforeAll(async () => {
    host = new WasmHost({
      id: `accounting-${exec}`,
      tier: 'cluster',
      exec,
      workers: { minThreads: 1, maxThreads: 1 },
      stores: [new MemoryStore('probe', 'here')],
    });
    await host.activate('kvprobe', host.modules.put(fixtureModule('kvprobe')));
    await host.activate('hello', host.modules.put(endpointModule('hello')));
  });
  afterAll(() => host.close());

  it('counts store operations and bytes exactly', async () => {
    const runs = 3;
    for (let i = 0; i < runs; i++) {
      const res = await host.invoke('kvprobe', request('GET', '/?store=probe'));
      expect(res.status).toBe(200);
      expect(JSON.parse(text(res.body))).toEqual({
        putOk: true,
        got: '12345',
        missingIsNull: true,
        keys: ['probe:a', 'probe:b'],
        deleted: true,
        clockAdvances: true,
        randomLength: 16,
      });
    }
    const usage = host.stats().find((s) => s.endpoint === 'kvprobe')!.usage;
    // Per run: put probe:a=12345 (7+5 bytes out), put probe:b=xy (7+2), get probe:a (7 out, 5 in),
    // get probe:none (10 out), list probe: (6 out, 14 in), delete probe:b (7 out).
    expect(usage.stores.probe).toMatchObject({
      gets: 2 * runs,
      puts: 2 * runs,
      deletes: runs,
      lists: runs,
      errors: 0,
      bytesSent: 51 * runs,
      bytesReceived: 19 * runs,
    });
    expect(usage.stores.probe!.timeMs).toBeGreaterThan(0);
    expect(usage.invocations).toBe(runs);
  });

  it('counts calls to other endpoints, with bytes and errors', async () => {
    const ok = await host.invoke('kvprobe', request('GET', '/?store=probe&callee=hello'));
    const body = JSON.parse(text(ok.body));
    expect(body.calleeStatus).toBe(200);
    expect(JSON.parse(body.calleeBody).message).toBe('Hello, probe!');
    const missing = await host.invoke('kvprobe', request('GET', '/?store=probe&callee=nowhere'));
    expect(JSON.parse(text(missing.body)).calleeStatus).toBe(-1);
    const usage = host.stats().find((s) => s.endpoint === 'kvprobe')!.usage;
    const helloBody = Buffer.byteLength(body.calleeBody);
    expect(usage.callees.hello).toMatchObject({
      calls: 1,
      errors: 0,
      requestBytes: 0,
      responseBytes: helloBody + 'content-type'.length + 'application/json'.length,
    });
    expect(usage.callees.nowhere).toMatchObject({ calls: 1, errors: 1 });
  });

  it('gives a store error, not a crash, for a store the host does not have', async () => {
    const res = await host.invoke('kvprobe', request('GET', '/?store=elsewhere'));
    expect(res.status).toBe(200);
    expect(JSON.parse(text(res.body))).toMatchObject({ putOk: false, got: '<null>', keys: [] });
    // Unknown store names get no counters of their own: a module cannot grow the accounting at will.
    expect(host.stats().find((s) => s.endpoint === 'kvprobe')!.usage.stores.elsewhere).toBeUndefined();
  });
});
