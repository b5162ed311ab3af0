// The ProfileStore on its own, with a fake clock: batches from several proxies and hosts merge into one
// profile (rates by origin, exact quantiles, data access, call graph, cost per tier), windows decay, network
// distances combine, drift fires once per shift of a workload and never under steady noise, and memory stays
// within the caps whatever the label values.
import { describe, expect, it } from 'vitest';
import type { ExecutionReportMsg, OriginReportMsg, ReportBatchMsg } from '../../control-plane/proto.ts';
import { Histogram } from '../../core/histogram.ts';
import { toWire } from '../histograms.ts';
import { type DriftEvent, type NodeInfo, OTHER, ProfileStore } from '../index.ts';

const NODES: Record<string, NodeInfo> = {
  'p-eu': { id: 'p-eu', kind: 'proxy', tier: 'in-process', site: 'eu' },
  'p-us': { id: 'p-us', kind: 'proxy', tier: 'in-process', site: 'us' },
  h1: { id: 'h1', kind: 'host', tier: 'cluster', site: 'eu' },
  e1: { id: 'e1', kind: 'host', tier: 'edge', site: 'us' },
};

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function latency(values: number[]) {
  const h = new Histogram();
  for (const v of values) h.record(v);
  return toWire(h.snapshot());
}

function origin(
  endpoint: string,
  requests: number,
  ms: number,
  extra: Partial<OriginReportMsg> = {},
): OriginReportMsg {
  return {
    endpoint,
    legacy: false,
    requests,
    errors: 0,
    requestBytes: requests * 100,
    responseBytes: requests * 1000,
    latency: latency(Array.from({ length: requests }, () => ms)),
    ...extra,
  };
}

function execution(
  endpoint: string,
  invocations: number,
  extra: Partial<ExecutionReportMsg> = {},
): ExecutionReportMsg {
  return {
    endpoint,
    invocations,
    errors: 0,
    requestBytes: invocations * 10,
    responseBytes: invocations * 20,
    latency: latency(Array.from({ length: invocations }, () => 1)),
    cpuMicros: 0,
    cpuSamples: 0,
    memoryBytes: 0,
    stores: [],
    callees: [],
    ...extra,
  };
}

function batch(nodeId: string, parts: Partial<ReportBatchMsg>): ReportBatchMsg {
  return { nodeId, intervalMs: 1000, origins: [], executions: [], probes: [], dropped: 0, ...parts };
}

function store(c = clock(), options: Partial<ConstructorParameters<typeof ProfileStore>[0]> = {}) {
  return new ProfileStore({ node: (id) => NODES[id], now: c.now, ...options });
}

describe('profile store', () => {
  it('merges proxies and hosts into one profile: rates by origin, quantiles, data access, calls, cost', () => {
    const c = clock();
    const s = store(c);
    for (let i = 0; i < 60; i++) {
      c.advance(1000);
      s.ingest(batch('p-eu', { origins: [origin('checkout', 30, 2)] }));
      s.ingest(batch('p-us', { origins: [origin('checkout', 10, 40)] }));
      s.ingest(
        batch('h1', {
          executions: [
            execution('checkout', 40, {
              cpuMicros: 500,
              cpuSamples: 5,
              memoryBytes: 131072,
              stores: [{ store: 'orders', accesses: 80, errors: 0, bytes: 4000, timeMs: 40 }],
              callees: [
                { callee: 'cart', calls: 40, errors: 0, bytes: 8000, timeMs: 80 },
                { callee: 'pricing', calls: 40, errors: 0, bytes: 2000, timeMs: 40 },
              ],
            }),
          ],
        }),
      );
    }
    const p = s.profile('checkout');
    expect(p.legacy).toBe(false);
    expect(p.requestsPerSecond).toBeCloseTo(40, 0);
    expect(p.origins.map((o) => o.site)).toEqual(['eu', 'us']);
    expect(p.origins[0]!.requestsPerSecond).toBeCloseTo(30, 0);
    expect(p.origins[1]!.requestsPerSecond).toBeCloseTo(10, 0);
    // A quarter of the requests took 40 ms: p50 is the eu latency, p90 the us one (merged histograms).
    expect(p.latencyMs.p50).toBeCloseTo(2, 0);
    expect(p.latencyMs.p90).toBeGreaterThan(38);
    expect(p.meanRequestBytes).toBeCloseTo(100);
    expect(p.meanResponseBytes).toBeCloseTo(1000);
    expect(p.hosts).toHaveLength(1);
    expect(p.hosts[0]).toMatchObject({ host: 'h1', tier: 'cluster', site: 'eu', memoryBytes: 131072 });
    expect(p.hosts[0]!.cpuMsPerCall).toBeCloseTo(0.1);
    expect(p.cpuMsPerCallByTier).toEqual({ cluster: expect.closeTo(0.1, 5) });
    expect(p.stores).toEqual([
      expect.objectContaining({
        store: 'orders',
        accessesPerRequest: expect.closeTo(2, 9),
        bytesPerRequest: expect.closeTo(100, 9),
        rttMs: expect.closeTo(0.5, 9),
      }),
    ]);
    expect(p.stores[0]!.rttMsBySite).toEqual({ eu: expect.closeTo(0.5, 9) });
    expect(p.callees).toEqual([
      expect.objectContaining({
        endpoint: 'cart',
        callsPerRequest: expect.closeTo(1, 9),
        bytesPerCall: expect.closeTo(200, 9),
        meanMs: expect.closeTo(2, 9),
      }),
      expect.objectContaining({
        endpoint: 'pricing',
        callsPerRequest: expect.closeTo(1, 9),
        bytesPerCall: expect.closeTo(50, 9),
        meanMs: expect.closeTo(1, 9),
      }),
    ]);
  });

  it('profiles legacy traffic from the proxies alone, and decays what stops', () => {
    const c = clock();
    const s = store(c);
    for (let i = 0; i < 30; i++) {
      c.advance(1000);
      s.ingest(batch('p-eu', { origins: [origin('/orders/{id}', 20, 5, { legacy: true, errors: 2 })] }));
    }
    const p = s.profile('/orders/{id}');
    expect(p).toMatchObject({ legacy: true, hosts: [], stores: [], callees: [] });
    expect(p.requestsPerSecond).toBeCloseTo(20, 0);
    expect(p.errorRate).toBeCloseTo(0.1);
    // Ten half-lives later the rate has faded to almost nothing; much later the profile is gone.
    c.advance(300_000);
    expect(s.profile('/orders/{id}').requestsPerSecond).toBeLessThan(0.1);
    c.advance(40 * 300_000);
    expect(() => s.profile('/orders/{id}')).toThrow(/no profile for "\/orders\/\{id\}"/);
    expect(s.profiles()).toEqual([]);
  });

  it('combines probes into site-to-site and site-to-store distances', () => {
    const c = clock();
    const s = store(c);
    const probe = (target: string, rttMs: number, kind: 'node' | 'store' = 'node', location = '') => ({
      kind,
      target,
      location,
      rttMs,
      jitterMs: 0.2,
      samples: 10,
      lost: 0,
    });
    s.ingest(
      batch('p-eu', { probes: [probe('p-us', 80), probe('h1', 1), probe('carts', 3, 'store', 'h1')] }),
    );
    s.ingest(batch('h1', { probes: [probe('p-us', 84), probe('nobody', 5)] }));
    const d = s.distances();
    expect(d.sites).toEqual([
      expect.objectContaining({ from: 'eu', to: 'eu', rttMs: 1, probes: 1 }),
      expect.objectContaining({ from: 'eu', to: 'us', rttMs: 82, jitterMs: 0.2, samples: 20, probes: 2 }),
    ]);
    expect(d.stores).toEqual([
      expect.objectContaining({ site: 'eu', store: 'carts', location: 'h1', rttMs: 3 }),
    ]);
    c.advance(600_000);
    expect(s.distances()).toEqual({ sites: [], stores: [] });
  });

  it('refuses a malformed batch whole, naming the field, and ignores unknown nodes', () => {
    const s = store();
    const bad = origin('x', 1, 1);
    bad.latency = { count: 3, sumMs: 1, buckets: { '5': 1 } };
    expect(() => s.ingest(batch('p-eu', { origins: [origin('ok', 1, 1), bad] }))).toThrow(
      /origins\[1\]\.latency: buckets add up to 1, count says 3/,
    );
    expect(() => s.ingest(batch('p-eu', { origins: [origin('ok', -1, 1)] }))).toThrow(/requests must be/);
    expect(() => s.ingest(batch('p-eu', { origins: [origin('', 1, 1)] }))).toThrow(/endpoint must be a name/);
    expect(s.profiles()).toEqual([]);
    expect(s.ingest(batch('stranger', { origins: [origin('ok', 1, 1)] }))).toBe(0);
  });

  it('keeps memory within the caps whatever the label values', () => {
    const c = clock();
    const limits = {
      maxEndpoints: 50,
      maxOrigins: 4,
      maxHosts: 3,
      maxStores: 2,
      maxCallees: 2,
      maxDistances: 10,
    };
    const nodes = new Map<string, NodeInfo>();
    const s = new ProfileStore({
      now: c.now,
      limits,
      node: (id) => {
        let n = nodes.get(id);
        if (!n) {
          n = { id, kind: id.startsWith('p') ? 'proxy' : 'host', tier: 'cluster', site: `site-${id}` };
          nodes.set(id, n);
        }
        return n;
      },
    });
    for (let i = 0; i < 2000; i++) {
      c.advance(10);
      s.ingest(
        batch(`p${i % 97}`, {
          origins: [origin(`ep-${i}`, 1, 1), origin('hot', 1, 1)],
          probes: [
            { kind: 'node', target: `h${i}`, location: '', rttMs: 1, jitterMs: 0, samples: 1, lost: 0 },
          ],
        }),
      );
      s.ingest(
        batch(`h${i % 89}`, {
          executions: [
            execution('hot', 1, {
              stores: [{ store: `store-${i}`, accesses: 1, errors: 0, bytes: 1, timeMs: 1 }],
              callees: [{ callee: `callee-${i}`, calls: 1, errors: 0, bytes: 1, timeMs: 1 }],
            }),
          ],
        }),
      );
    }
    const size = s.size();
    expect(size.endpoints).toBeLessThanOrEqual(50);
    // Two windows per endpoint, each within its caps (plus the one "(other)" entry past each cap).
    expect(size.origins).toBeLessThanOrEqual(50 * 2 * 5);
    expect(size.hosts).toBeLessThanOrEqual(2 * 4);
    expect(size.stores).toBeLessThanOrEqual(2 * 4 * 3);
    expect(size.callees).toBeLessThanOrEqual(2 * 4 * 3);
    expect(size.probes).toBeLessThanOrEqual(10);
    expect(s.dropped).toBeGreaterThan(0);
    const hot = s.profile('hot');
    expect(hot.origins.map((o) => o.site)).toContain(OTHER);
    expect(hot.hosts.map((h) => h.host)).toContain(OTHER);
    expect(hot.stores.map((st) => st.store)).toContain(OTHER);
  });
});

/** A workload whose parameters can shift, fed for `seconds` one batch per second with Poisson-ish noise. */
function workload(s: ProfileStore, c: ReturnType<typeof clock>) {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const noisy = (mean: number) => Math.max(0, Math.round(mean + (rand() - 0.5) * 2 * Math.sqrt(mean)));
  const w = { rate: 50, usShare: 0.1, cartAccesses: 2, latencyMs: 5 };
  return {
    w,
    run(seconds: number) {
      for (let i = 0; i < seconds; i++) {
        c.advance(1000);
        const total = noisy(w.rate);
        const us = Math.round(total * w.usShare);
        const ms = w.latencyMs * (0.8 + rand() * 0.4);
        s.ingest(batch('p-eu', { origins: [origin('cart', total - us, ms)] }));
        if (us > 0) s.ingest(batch('p-us', { origins: [origin('cart', us, ms)] }));
        const accesses = Math.round(total * w.cartAccesses);
        s.ingest(
          batch('h1', {
            executions: [
              execution('cart', total, {
                stores: [
                  { store: 'carts', accesses, errors: 0, bytes: accesses * 50, timeMs: accesses * 0.5 },
                ],
              }),
            ],
          }),
        );
      }
    },
  };
}

describe('drift', () => {
  function setup() {
    const c = clock();
    const s = store(c);
    const events: DriftEvent[] = [];
    const off = s.onDrift((e) => events.push(e));
    const load = workload(s, c);
    load.run(20 * 60); // twenty steady minutes: the baseline settles
    return { s, c, events, off, load };
  }

  it('stays quiet under a steady, noisy workload', () => {
    const { events, load } = setup();
    load.run(30 * 60);
    expect(events).toEqual([]);
  });

  it('fires once when the origin mix shifts', () => {
    const { events, load } = setup();
    load.w.usShare = 0.7;
    load.run(5 * 60);
    expect(events.map((e) => e.kind)).toEqual(['origin-mix']);
    expect(events[0]!.before.originShares.us).toBeLessThan(0.3);
    expect(events[0]!.after.originShares.us).toBeGreaterThan(0.3);
    expect(events[0]!.statistic).toBeGreaterThanOrEqual(events[0]!.threshold);
  });

  it('fires when the rate quadruples', () => {
    const { events, load } = setup();
    load.w.rate = 200;
    load.run(5 * 60);
    expect(events.map((e) => e.kind)).toEqual(['rate']);
    expect(events[0]!.after.requestsPerSecond).toBeGreaterThan(2 * events[0]!.before.requestsPerSecond);
  });

  it('fires when the data access pattern changes', () => {
    const { events, load } = setup();
    load.w.cartAccesses = 6;
    load.run(5 * 60);
    expect(events.map((e) => e.kind)).toEqual(['data-access']);
    expect(events[0]!.after.accessesPerRequest.carts).toBeGreaterThan(
      events[0]!.before.accessesPerRequest.carts!,
    );
  });

  it('fires when latency triples, and re-arms once the baseline has caught up', () => {
    const { events, load } = setup();
    load.w.latencyMs = 15;
    load.run(5 * 60);
    expect(events.map((e) => e.kind)).toEqual(['latency']);
    load.run(30 * 60);
    expect(events).toHaveLength(1);
    load.w.latencyMs = 60;
    load.run(5 * 60);
    expect(events.map((e) => e.kind)).toEqual(['latency', 'latency']);
  });

  it('stops calling a listener that unsubscribed', () => {
    const { events, off, load } = setup();
    off();
    load.w.rate = 500;
    load.run(5 * 60);
    expect(events).toEqual([]);
  });
});
