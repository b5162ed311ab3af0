// The placement loop on a real ControlPlane (state on SQLite, real migrations); only the nodes are stand-ins at
// the gRPC edge: sessions that apply each snapshot at once and ACK it, hosts reporting ready what they were
// assigned. Profiles and distances are given, so the test controls the workload.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { endpointModule } from '../../test/support/modules.ts';
import { ControlPlane } from '../control-plane.ts';
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
