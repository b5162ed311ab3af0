// The Node runner against real HTTP servers on loopback: it keeps its arrival rate when the server is slow
// (open loop), counts errors and drops, and its phases move the traffic between origins and requests.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../core/errors.ts';
import { closeServer, listenOn } from '../../core/http.ts';
import { formatDetail, summarize } from '../compare.ts';
import { formatReport, runScenario } from '../runner.ts';
import type { Scenario } from '../scenario.ts';
import { scenarios } from '../scenarios/index.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => closeServer(s, false)));
});

interface Seen {
  path: string;
  at: number;
}

/** A server that records each request and answers after `delayMs`; /fail answers 500. */
async function server(delayMs = 0): Promise<{ url: string; seen: Seen[]; maxConcurrent: () => number }> {
  const seen: Seen[] = [];
  let active = 0;
  let max = 0;
  const s = createServer((req: IncomingMessage, res) => {
    seen.push({ path: req.url!, at: performance.now() });
    active++;
    max = Math.max(max, active);
    req.resume();
    setTimeout(() => {
      active--;
      res.statusCode = req.url!.startsWith('/fail') ? 500 : 200;
      res.end(res.statusCode === 500 ? 'failed on purpose' : 'ok');
    }, delayMs);
  });
  servers.push(s);
  const { port } = await listenOn(s, 0, '127.0.0.1');
  return { url: `http://127.0.0.1:${port}`, seen, maxConcurrent: () => max };
}

function scenario(phases: Scenario['phases']): Scenario {
  return {
    name: 'test',
    description: 'test',
    users: 5,
    skus: 5,
    requests: {
      x: { endpoint: 'ex', method: 'GET', path: '/x/{user}' },
      y: { endpoint: 'why', method: 'POST', path: '/y', body: '{"sku":"{sku}"}' },
      fail: { endpoint: 'ex', method: 'GET', path: '/fail' },
    },
    phases,
  };
}

describe('load runner', () => {
  it('keeps its arrival rate when the server is slow (open loop)', async () => {
    const slow = await server(300);
    const report = await runScenario(
      scenario([{ name: 'p', durationS: 1, rate: 40, origins: { a: 1 }, mix: { x: 1 } }]),
      { targets: { a: slow.url } },
    );
    expect(slow.seen).toHaveLength(40);
    // A closed loop on one connection would need 40 x 300 ms; open loop sends them all within the second.
    expect(slow.seen.at(-1)!.at - slow.seen[0]!.at).toBeLessThan(2000);
    expect(slow.maxConcurrent()).toBeGreaterThanOrEqual(5);
    const x = report.phases[0]!.requests.x!;
    expect(x).toMatchObject({ count: 40, ok: 40, errors: 0, dropped: 0 });
    expect(x.p50Ms).toBeGreaterThanOrEqual(300);
    expect(report.total.x!.histogram.count).toBe(40);
  });

  it('counts error statuses, failed connections and drops', async () => {
    const up = await server(200);
    const gone = await server();
    await closeServer(servers.pop()!, false);
    const report = await runScenario(
      scenario([{ name: 'p', durationS: 0.5, rate: 40, origins: { a: 3, b: 1 }, mix: { x: 1, fail: 1 } }]),
      { targets: { a: up.url, b: gone.url }, seed: 7 },
    );
    const { x, fail } = report.total;
    expect(fail!.statuses['500']).toBeGreaterThan(0);
    expect(fail!.errors).toBe(fail!.count);
    expect(x!.failures['ECONNREFUSED']).toBeGreaterThan(0);
    expect(x!.ok + x!.errors).toBe(x!.count);
    // Comparisons name what failed, per request and status or error code.
    const summary = summarize('run', report, {});
    expect(summary.errorsBy).toEqual({
      'fail: status 500 ("failed on purpose")': fail!.rejected['500'],
      'fail: ECONNREFUSED': fail!.failures['ECONNREFUSED'],
      'x: ECONNREFUSED': x!.failures['ECONNREFUSED'],
    });
    expect(formatDetail([summary])).toContain(
      `errors in run: fail: status 500 ("failed on purpose") x${fail!.rejected['500']}`,
    );

    const capped = await runScenario(
      scenario([{ name: 'p', durationS: 0.5, rate: 40, origins: { a: 1 }, mix: { x: 1 } }]),
      { targets: { a: up.url }, maxInFlight: 2 },
    );
    const c = capped.total.x!;
    expect(c.dropped).toBeGreaterThan(0);
    expect(c.count + c.dropped).toBe(20);
  });

  it('shifts origins and the request mix phase by phase', async () => {
    const a = await server();
    const b = await server();
    const report = await runScenario(
      scenario([
        { name: 'first', durationS: 0.5, rate: 40, origins: { a: 1 }, mix: { x: 1 } },
        { name: 'second', durationS: 0.5, rate: 20, origins: { b: 1 }, mix: { y: 1 } },
      ]),
      { targets: { a: a.url, b: b.url } },
    );
    expect(a.seen.map((s) => s.path.split('/')[1])).toEqual(Array(20).fill('x'));
    expect(b.seen.map((s) => s.path)).toEqual(Array(10).fill('/y'));
    expect(report.phases.map((p) => p.origins)).toEqual([{ a: 20 }, { b: 10 }]);
    expect(Object.keys(report.phases[1]!.requests)).toEqual(['y']);
    const table = formatReport(report);
    expect(table).toContain('second');
    expect(table).toMatch(/\(all\)\s+y\s+10\s+10\s+0\s+0/);
  });

  it('scales time and rate', async () => {
    const a = await server();
    const report = await runScenario(
      scenario([{ name: 'p', durationS: 10, rate: 10, origins: { a: 1 }, mix: { x: 1 } }]),
      { targets: { a: a.url }, timeScale: 0.05, rateScale: 4 },
    );
    expect(report.durationS).toBeCloseTo(0.5);
    expect(a.seen).toHaveLength(20);
  });

  it('refuses a run it cannot make, naming what is missing', async () => {
    const s = scenarios.shifting!;
    await expect(runScenario(s, { targets: { device: 'http://127.0.0.1:1' } })).rejects.toThrow(
      'no target for origin "edge", "cluster"',
    );
    await expect(runScenario(s, { targets: { device: 'ftp://x', edge: 'x', cluster: 'x' } })).rejects.toThrow(
      'target "device" must be an http:// or https:// URL',
    );
    const bad = scenario([{ name: 'p', durationS: 0, rate: 1, origins: { a: 1 }, mix: { nope: 1 } }]);
    await expect(runScenario(bad, { targets: { a: 'http://127.0.0.1:1' } })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(runScenario(bad, { targets: { a: 'http://127.0.0.1:1' } })).rejects.toThrow(
      /phases\[0\] \(p\)\.durationS.*mix names "nope"/,
    );
  });
});
