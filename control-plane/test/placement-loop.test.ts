// The placement loop on a real ControlPlane (state on SQLite, real migrations); only the nodes are stand-ins at
// the gRPC edge: sessions that apply each snapshot at once and ACK it, hosts reporting ready what they were
// assigned. Profiles and distances are given, so the test controls the workload.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ROOT } from '../../core/paths.ts';
import { endpointModule } from '../../test/support/modules.ts';
import { AdminApi } from '../admin-api.ts';
import { adminToken } from '../auth.ts';
import { ControlPlane } from '../control-plane.ts';
import type { MigrationRecord, TargetObservation } from '../migration.ts';
import { type Decision, PlacementLoop } from '../placement-loop.ts';
import type { ObservedEndpoint, ObservedNetwork } from '../placement-problem.ts';
import type { SnapshotMsg } from '../proto.ts';

let dir: string;
let cp: ControlPlane;

/** Sites: the device and edge sites are close to each other and far from the cluster. */
const RTT: Record<string, number> = { 'device|edge': 10, 'edge|cluster': 40, 'device|cluster': 50 };
const network: ObservedNetwork = {
  siteRttMs: (a, b) => (a === b ? 0.2 : (RTT[`${a}|${b}`] ?? RTT[`${b}|${a}`])),
  storeRttMs: () => undefined,
};

function node(id: string, kind: 'host' | 'proxy', tier: string, location: string): void {
  const session = {
    sentVersion: -1,
    send(snapshot: SnapshotMsg) {
      // Apply and ACK on the next turn, as a real node would after its reconcile.
      setImmediate(() => {
        const ready = snapshot.assignments.map((a) => `${a.endpoint}@${a.digest}`);
        cp.ack(id, snapshot.version, ready);
      });
    },
  };
  cp.subscribe(
    {
      nodeId: id,
      kind,
      tier,
      location,
      address: `http://${id}.invalid`,
      cpuMillis: 2000,
      memoryMib: 1024,
      capabilities: [],
      appliedVersion: 0,
      stores: [],
    },
    session,
  );
}

function profile(endpoint: string, ratePerOrigin: Record<string, number>): ObservedEndpoint {
  return {
    endpoint,
    ratePerOrigin,
    cpuMsPerCall: { default: 0.1 },
    memoryMib: 16,
    stores: [],
    calls: [],
    measuredOnHosts: true,
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 200 && cp.migrations.list().length > 0; i++) {
    cp.migrations.tick();
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(cp.migrations.list()).toEqual([]);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'roam-loop-'));
  cp = new ControlPlane({ dataDir: dir, migration: { verifyMs: 0 } });
  node('c1', 'host', 'cluster', 'cluster');
  node('e1', 'host', 'edge', 'edge');
  node('p-dev', 'proxy', 'in-process', 'device');
  const digest = cp.uploadModule(endpointModule('hello'));
  cp.deploy('hello', digest, [{ match: 'GET /hello', endpoint: 'hello' }]);
});

afterEach(() => {
  cp.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('placement loop', () => {
  it('moves an endpoint toward its callers, records why, and then stays put under a steady workload', async () => {
    let observed = new Map([['hello', profile('hello', { device: 50 })]]);
    const loop = new PlacementLoop(
      cp,
      { observed: () => observed, network: () => network, latencyMs: () => 12 },
      { coolDownMs: 0 },
    );
    expect(cp.placementOf('hello')).toEqual(['c1']);
    const plan = await loop.plan();
    expect(plan.proposals).toMatchObject([{ endpoint: 'hello', to: { hosts: ['p-dev'] }, verdict: 'move' }]);
    expect(cp.placementOf('hello')).toEqual(['c1']); // a plan moves nothing

    const [d] = await loop.trigger('period');
    expect(d).toMatchObject({ endpoint: 'hello', from: { hosts: ['c1'] }, to: { hosts: ['p-dev'] } });
    expect(d!.predictedGain).toBeGreaterThan(1000); // 50 req/s x ~50 ms
    expect(d!.inputs?.ratePerOrigin).toEqual({ device: 50 });
    await settle();
    expect(cp.placementOf('hello')).toEqual(['p-dev']);
    expect(cp.state.decisions<Decision>()[0]!.status).toBe('done');

    // Fifty more rounds of the same workload, with a little noise: no further move.
    for (let i = 0; i < 50; i++) {
      observed = new Map([['hello', profile('hello', { device: 50 + (i % 3), edge: i % 2 })]]);
      await loop.trigger('period');
      await settle();
    }
    expect(cp.state.decisions<Decision>()).toHaveLength(1);
    loop.close();
  });

  it('leaves small gains alone, honours pauses and cool-downs, and moves off a workload that shifted', async () => {
    let observed = new Map([['hello', profile('hello', { cluster: 20, edge: 1 })]]);
    const loop = new PlacementLoop(
      cp,
      { observed: () => observed, network: () => network, latencyMs: () => undefined },
      { coolDownMs: 60_000, minGain: 5, minGainRatio: 0.05 },
    );
    const quiet = await loop.plan();
    expect(quiet.proposals.filter((p) => p.verdict === 'move')).toEqual([]);

    observed = new Map([['hello', profile('hello', { edge: 40 })]]); // the callers moved to the edge
    loop.pause('hello');
    expect((await loop.plan()).proposals[0]!.verdict).toBe('paused');
    expect(await loop.trigger('drift')).toEqual([]);
    loop.resume('hello');
    const [d] = await loop.trigger('drift');
    expect(d!.to.hosts).toEqual(['e1']);
    await settle();

    observed = new Map([['hello', profile('hello', { device: 40 })]]); // and on again, within the cool-down
    expect((await loop.plan()).proposals[0]!.verdict).toBe('cooling down');
    loop.close();
  });

  it('does not move an endpoint on traffic alone, before a host reported where its data is', async () => {
    const unmeasured = { ...profile('hello', { device: 50 }), measuredOnHosts: false };
    const loop = new PlacementLoop(cp, {
      observed: () => new Map([['hello', unmeasured]]),
      network: () => network,
      latencyMs: () => undefined,
    });
    expect((await loop.plan()).proposals[0]!.verdict).toBe('not measured on a host yet');
    expect(await loop.trigger('period')).toEqual([]);
    loop.close();
  });

  it('replicates to every origin when policy allows, routing each origin to its nearest replica', async () => {
    const digest = cp.uploadModule(endpointModule('hello'));
    cp.deploy('hello', digest, undefined, { maxReplicas: 3 });
    const observed = new Map([['hello', profile('hello', { device: 30, cluster: 30 })]]);
    const loop = new PlacementLoop(cp, {
      observed: () => observed,
      network: () => network,
      latencyMs: () => undefined,
    });
    const [d] = await loop.trigger('period');
    expect(new Set(d!.to.hosts)).toEqual(new Set(['c1', 'p-dev']));
    expect(d!.to.weights).toMatchObject({ device: { 'p-dev': 1 }, cluster: { c1: 1 } });
    await settle();
    expect(new Set(cp.placementOf('hello'))).toEqual(new Set(['c1', 'p-dev']));
    loop.close();
  });
});

describe('operator moves (issue 18, point 3)', () => {
  const busyOn = (endpoint: string) => cp.migrations.inFlight(endpoint);
  const historyOf = (action: string) => cp.state.history('hello').filter((h) => h.action === action);

  it('wins over a loop move in flight, pins the endpoint, and the loop leaves it alone until resumed', async () => {
    const observed = new Map([['hello', profile('hello', { device: 50 })]]);
    const loop = new PlacementLoop(
      cp,
      { observed: () => observed, network: () => network, latencyMs: () => undefined },
      { coolDownMs: 0 },
    );
    // The loop's move to the device holds in its first shift step (half the traffic moved).
    cp.migrations.options.shift = { steps: [0.5, 1], holdMs: 60_000 };
    const [d] = await loop.trigger('drift');
    expect(d!.to.hosts).toEqual(['p-dev']);
    for (let i = 0; i < 100 && busyOn('hello')?.step !== 'shift'; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(busyOn('hello')).toMatchObject({ reason: 'loop', step: 'shift' });
    expect(cp.state.weights('hello')?.['*']).toMatchObject({ c1: 0.5, 'p-dev': 0.5 });

    cp.migrations.options.shift = { steps: [1], holdMs: 0 };
    const m = cp.migrate('hello', ['e1']);
    // It starts from the layout that is safe (the warm old replica), holding the loop's new one until it drains.
    expect(m).toMatchObject({ reason: 'manual', from: { hosts: ['c1'] }, held: ['p-dev'] });
    expect(new Set(cp.placementOf('hello'))).toEqual(new Set(['c1', 'e1', 'p-dev']));
    expect(cp.state.weights('hello')?.['*']).toEqual({ c1: 1 });
    await settle();
    expect(cp.placementOf('hello')).toEqual(['e1']);
    expect(cp.state.decision<Decision>(d!.id)).toMatchObject({
      status: 'superseded',
      why: 'superseded by a manual move',
    });
    expect(historyOf('migration-start')[0]!.detail).toMatchObject({
      reason: 'manual',
      supersedes: d!.migration,
    });

    // Pinned: the loop still sees the device as better, and leaves hello where the operator put it.
    expect(cp.pins.of('hello')).toMatchObject({ migration: m.id });
    expect((await loop.plan()).proposals[0]!.verdict).toBe('pinned by the operator');
    for (let i = 0; i < 5; i++) expect(await loop.trigger('period')).toEqual([]);
    expect(cp.placementOf('hello')).toEqual(['e1']);

    loop.resume('hello');
    expect(cp.pins.of('hello')).toBeUndefined();
    expect(historyOf('pin-released')).toHaveLength(1);
    const [again] = await loop.trigger('period');
    expect(again!.to.hosts).toEqual(['p-dev']);
    await settle();
    loop.close();
  });

  it('a pin lapses when the expiry the operator chose passes; a second manual move in flight is refused', async () => {
    const observed = new Map([['hello', profile('hello', { device: 50 })]]);
    const loop = new PlacementLoop(
      cp,
      { observed: () => observed, network: () => network, latencyMs: () => undefined },
      { coolDownMs: 0 },
    );
    const m = cp.migrate('hello', ['e1'], { pinForMs: 3_600_000 });
    expect(() => cp.migrate('hello', ['c1'])).toThrow(
      expect.objectContaining({ status: 409, message: expect.stringMatching(/already moving.*manual/) }),
    );
    await settle();
    expect(cp.pins.of('hello')).toMatchObject({ migration: m.id, until: expect.any(String) });
    expect((await loop.plan()).proposals[0]!.verdict).toMatch(/^pinned by the operator until 20\d\d-/);
    // An hour and a second later (only the clock is faked: timers and the solver's thread run as ever).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_601_000 });
    try {
      const [d] = await loop.trigger('period');
      expect(d!.to.hosts).toEqual(['p-dev']);
      expect(historyOf('pin-expired')).toHaveLength(1);
      await settle();
    } finally {
      vi.useRealTimers();
    }
    loop.close();
  });

  describe('roam migrate against a regression', () => {
    let api: AdminApi;
    let url: string;
    const run = promisify(execFile);
    const migrate = (...args: string[]) =>
      run(
        process.execPath,
        [
          join(ROOT, 'bin/roam.ts'),
          'migrate',
          'hello',
          '--to',
          'e1',
          ...args,
          '--control-plane',
          url,
          '--token',
          adminToken(cp.state.secret()),
        ],
        { timeout: 30_000 },
      ).then(
        (r) => ({ code: 0, ...r }),
        (err: { code: number; stdout: string; stderr: string }) => err,
      );

    beforeEach(async () => {
      // The new replica fails half its requests; the old one failed none.
      const sick: TargetObservation = { requests: 200, errors: 100, p50Ms: 3, p99Ms: 9 };
      const well: TargetObservation = { requests: 200, errors: 0, p50Ms: 2, p99Ms: 6 };
      cp.migrations.options.observe = (_e, hosts) => (hosts.includes('e1') ? sick : well);
      cp.migrations.options.verifyMs = 200;
      api = new AdminApi(cp);
      const addr = await api.listen(0, '127.0.0.1');
      url = `http://127.0.0.1:${addr.port}`;
    });

    afterEach(() => api.close());

    it('prints the rollback with its reason and figures, and exits 1', async () => {
      const out = await migrate();
      expect(out.code).toBe(1);
      expect(out.stdout).toMatch(
        /^migration \d+ of hello:\n(.*\n)*.* s {2}verify\n(.*\n)*.* s {2}rollback\n/,
      );
      expect(out.stderr).toMatch(
        /the move of hello was rolled back: regression on the new target: 50\.0% errors, p50 3\.0 ms, p99 9\.0 ms against 0\.0% errors/,
      );
      expect(out.stderr).toMatch(/roam resume hello/);
      expect(cp.placementOf('hello')).toEqual(['c1']);
      expect(cp.pins.of('hello')).toBeDefined();
    });

    it('--force skips the regression check and the move completes', async () => {
      const out = await migrate('--force', '--pin-for', '10m');
      expect(out).toMatchObject({ code: 0 });
      expect(out.stdout).toMatch(/\bdone\b/);
      expect(out.stdout).toMatch(/hello is pinned until 20\d\d-.*roam resume hello/);
      expect(cp.placementOf('hello')).toEqual(['e1']);
      const started = cp.state.history('hello').find((h) => h.action === 'migration-start');
      expect(started?.detail).toMatchObject({ force: true });
      const done = cp.state.migrations<MigrationRecord>({ active: false })[0]!;
      expect(done).toMatchObject({ outcome: 'done', force: true });
    });

    it('refuses a bad --pin-for with a usage error (exit 2) and moves nothing', async () => {
      const out = await migrate('--pin-for', 'soon');
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/--pin-for expects a duration such as 90s, 30m, 2h or 1d, got "soon"/);
      expect(cp.migrations.list()).toEqual([]);
    });
  });
});
