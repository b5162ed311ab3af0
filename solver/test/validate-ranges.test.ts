// Numbers in range (issue 16): every numeric field of a problem is refused outside its documented range
// (docs/solver.md), as NaN, as Infinity or as a string, and every required field is refused when missing, each
// with an InvalidProblemError naming the field; values at the edges of the ranges solve to finite answers, and
// so does a problem with every factor at its maximum at once. The solve options' time limit is checked too.
import { describe, expect, it } from 'vitest';
import {
  InfeasibleError,
  InvalidProblemError,
  type PlacementProblem,
  solve,
  syntheticProblem,
} from '../index.ts';
import { validateOptions } from '../validate.ts';

/**
 * 6 endpoints x 3 hosts (seed 1): e0 calls e2, e3, e4; e1 is replicated (maxReplicas 3); e5 reads store
 * kv-regional; the stores are db-main, cache-edge and kv-regional; the tiers cluster, edge and device.
 */
const BASE = syntheticProblem({ endpoints: 6, hosts: 3, seed: 1 });

function problem(change: (p: PlacementProblem) => void = () => {}): PlacementProblem {
  const p = structuredClone(BASE);
  change(p);
  return p;
}

const endpoint = (p: PlacementProblem, id: string) => p.endpoints.find((e) => e.id === id)!;
/** Writes `v` where the types do not allow it: the point is what the solver makes of such input. */
const loose = (o: object) => o as Record<string, unknown>;

/** Solves and expects an InvalidProblemError whose message contains every one of `parts`. */
async function refused(p: PlacementProblem, ...parts: string[]): Promise<string> {
  const err = await solve(p, { timeLimitMs: 200 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected a refusal naming ${parts.join(', ')}`).toBeInstanceOf(InvalidProblemError);
  const { message, code } = err as InvalidProblemError;
  expect(code).toBe('ROAM_ERR_SOLVER_INVALID_PROBLEM');
  for (const part of parts) expect(message).toContain(part);
  return message;
}

/** Solves and expects either a finite answer or, when the numbers leave no room, an InfeasibleError. */
async function accepted(p: PlacementProblem): Promise<void> {
  const answer = await solve(p, { timeLimitMs: 200 }).catch((e: unknown) => e);
  if (answer instanceof InfeasibleError) return;
  if (answer instanceof Error) throw answer;
  const s = answer as Awaited<ReturnType<typeof solve>>;
  expect(Number.isFinite(s.objective)).toBe(true);
  expect(Number.isFinite(s.bound)).toBe(true);
  expect(Number.isFinite(s.gap)).toBe(true);
  expect(s.bound).toBeLessThanOrEqual(s.objective);
}

interface NumericField {
  /** The field as the message names it. */
  name: string;
  min: number;
  max: number;
  integer?: boolean;
  /** null is a value of its own (a store unreachable from the site). */
  nullable?: boolean;
  set: (p: PlacementProblem, v: unknown) => void;
  /** Removes the field; absent for optional fields, whose absence is fine. */
  remove?: (p: PlacementProblem) => void;
}

const FIELDS: NumericField[] = [
  {
    name: 'rttMs[0][1]',
    min: 0,
    max: 1e6,
    set: (p, v) => {
      loose(p.rttMs[0]!)[1] = v;
    },
  },
  {
    name: 'store kv-regional: rttMs[1]',
    min: 0,
    max: 1e6,
    nullable: true,
    set: (p, v) => {
      loose(p.stores[2]!.rttMs)[1] = v;
    },
  },
  {
    name: 'host h0: cpuMillis',
    min: 0,
    max: 1e9,
    set: (p, v) => {
      loose(p.hosts[0]!).cpuMillis = v;
    },
    remove: (p) => {
      delete loose(p.hosts[0]!).cpuMillis;
    },
  },
  {
    name: 'host h1: memoryMib',
    min: 0,
    max: 1e9,
    set: (p, v) => {
      loose(p.hosts[1]!).memoryMib = v;
    },
    remove: (p) => {
      delete loose(p.hosts[1]!).memoryMib;
    },
  },
  {
    name: 'host h0: cpuUsedMillis',
    min: 0,
    max: 1e9,
    set: (p, v) => {
      loose(p.hosts[0]!).cpuUsedMillis = v;
    },
  },
  {
    name: 'host h2: memoryUsedMib',
    min: 0,
    max: 1e9,
    set: (p, v) => {
      loose(p.hosts[2]!).memoryUsedMib = v;
    },
  },
  {
    name: 'endpoint e0: ratePerOrigin[1]',
    min: 0,
    max: 1e9,
    set: (p, v) => {
      loose(endpoint(p, 'e0').ratePerOrigin)[1] = v;
    },
  },
  {
    name: 'endpoint e2: cpuMsPerCall.edge',
    min: 0,
    max: 1e6,
    set: (p, v) => {
      loose(endpoint(p, 'e2').cpuMsPerCall).edge = v;
    },
  },
  {
    name: 'endpoint e3: memoryMib',
    min: 0,
    max: 1e9,
    set: (p, v) => {
      loose(endpoint(p, 'e3')).memoryMib = v;
    },
    remove: (p) => {
      delete loose(endpoint(p, 'e3')).memoryMib;
    },
  },
  {
    name: 'endpoint e4: moveCost',
    min: 0,
    max: 1e12,
    set: (p, v) => {
      loose(endpoint(p, 'e4')).moveCost = v;
    },
  },
  {
    name: 'endpoint e5: stores[0].perRequest',
    min: 0,
    max: 1e6,
    set: (p, v) => {
      loose(endpoint(p, 'e5').stores[0]!).perRequest = v;
    },
    remove: (p) => {
      delete loose(endpoint(p, 'e5').stores[0]!).perRequest;
    },
  },
  {
    name: 'endpoint e5: stores[0].bytesPerRequest',
    min: 0,
    max: 1e12,
    set: (p, v) => {
      loose(endpoint(p, 'e5').stores[0]!).bytesPerRequest = v;
    },
    remove: (p) => {
      delete loose(endpoint(p, 'e5').stores[0]!).bytesPerRequest;
    },
  },
  {
    name: 'endpoint e0: calls[1].perRequest',
    min: 0,
    max: 1e6,
    set: (p, v) => {
      loose(endpoint(p, 'e0').calls[1]!).perRequest = v;
    },
    remove: (p) => {
      delete loose(endpoint(p, 'e0').calls[1]!).perRequest;
    },
  },
  {
    name: 'endpoint e0: calls[0].bytesPerCall',
    min: 0,
    max: 1e12,
    set: (p, v) => {
      loose(endpoint(p, 'e0').calls[0]!).bytesPerCall = v;
    },
    remove: (p) => {
      delete loose(endpoint(p, 'e0').calls[0]!).bytesPerCall;
    },
  },
  {
    name: 'bandwidthCostPerByte.cluster.edge',
    min: 0,
    max: 1e3,
    set: (p, v) => {
      loose(p.bandwidthCostPerByte.cluster!).edge = v;
    },
  },
  {
    name: 'weights.egress',
    min: 0,
    max: 1e6,
    set: (p, v) => {
      loose(p).weights = { egress: v };
    },
  },
  {
    name: 'weights.migration',
    min: 0,
    max: 1e6,
    set: (p, v) => {
      loose(p).weights = { egress: 1, migration: v };
    },
  },
  {
    name: 'endpoint e1: policy.maxReplicas',
    min: 1,
    max: 1e6,
    integer: true,
    set: (p, v) => {
      loose(endpoint(p, 'e1').policy!).maxReplicas = v;
    },
  },
];

const shown = (v: number) => (v >= 1e4 ? `1e${Math.log10(v)}` : String(v));

describe('numbers in range', () => {
  for (const f of FIELDS) {
    const range = `${f.integer ? 'an integer' : 'a finite number'} in [${shown(f.min)}, ${shown(f.max)}]`;

    it(`${f.name}: refused just outside [${f.min}, ${f.max}], as NaN, Infinity, a string${f.nullable ? '' : ' or null'}`, async () => {
      const below = f.integer ? f.min - 1 : f.min - 1e-9;
      const above = f.integer ? f.max + 1 : f.max * (1 + 1e-9);
      const bad = [below, above, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '5'];
      for (const v of f.nullable ? bad : [...bad, null])
        await refused(
          problem((p) => f.set(p, v)),
          `${f.name} must be `,
          range,
          `got ${typeof v === 'string' ? `"${v}"` : String(v)}`,
        );
      if (f.integer)
        await refused(
          problem((p) => f.set(p, f.min + 0.5)),
          `${f.name} must be an integer`,
        );
      if (f.remove) {
        const remove = f.remove;
        await refused(problem(remove), `${f.name} is missing (expected ${range})`);
      }
    });

    it(`${f.name}: accepted at ${f.min} and ${f.max}, with a finite answer`, async () => {
      await accepted(problem((p) => f.set(p, f.min)));
      await accepted(problem((p) => f.set(p, f.max)));
    });
  }

  it('refuses the cases of issue 16 with the field named', async () => {
    expect(
      await refused(
        problem((p) => {
          endpoint(p, 'e0').calls[0]!.bytesPerCall = 1e308;
        }),
      ),
    ).toBe('endpoint e0: calls[0].bytesPerCall must be a finite number in [0, 1e12], got 1e+308');
    expect(
      await refused(
        problem((p) => {
          endpoint(p, 'e4').moveCost = 1e308;
        }),
      ),
    ).toBe('endpoint e4: moveCost must be a finite number in [0, 1e12], got 1e+308');
    await refused(
      problem((p) => {
        p.rttMs = p.rttMs.map((row) => row.map(() => 1e306));
      }),
      'rttMs[0][0] must be a finite number in [0, 1e6], got 1e+306',
    );
    await refused(
      problem((p) => {
        p.stores[0]!.rttMs = p.stores[0]!.rttMs.map((v) => (v === null ? null : 1e306));
      }),
      'store db-main: rttMs[0] must be null (unreachable) or a finite number in [0, 1e6], got 1e+306',
    );
    expect(
      await refused(
        problem((p) => {
          delete loose(endpoint(p, 'e3')).calls;
        }),
      ),
    ).toBe('endpoint e3: calls is missing (expected an array)');
    expect(
      await refused(
        problem((p) => {
          delete loose(endpoint(p, 'e3')).stores;
        }),
      ),
    ).toBe('endpoint e3: stores is missing (expected an array)');
    expect(
      await refused(
        problem((p) => {
          delete loose(p).stores;
        }),
      ),
    ).toBe('stores is missing (expected an array)');
    expect(
      await refused(
        problem((p) => {
          delete loose(p).bandwidthCostPerByte;
        }),
      ),
    ).toBe('bandwidthCostPerByte is missing (expected an object)');
  });

  it('names every missing required field', async () => {
    const cases: [string, (p: PlacementProblem) => void][] = [
      ['sites is missing (expected an array)', (p) => delete loose(p).sites],
      ['rttMs is missing (expected an array)', (p) => delete loose(p).rttMs],
      ['hosts is missing (expected an array)', (p) => delete loose(p).hosts],
      ['stores is missing (expected an array)', (p) => delete loose(p).stores],
      ['endpoints is missing (expected an array)', (p) => delete loose(p).endpoints],
      ['bandwidthCostPerByte is missing (expected an object)', (p) => delete loose(p).bandwidthCostPerByte],
      ['hosts[1]: id is missing (expected a string)', (p) => delete loose(p.hosts[1]!).id],
      ['host h1: tier is missing (expected a string)', (p) => delete loose(p.hosts[1]!).tier],
      ['host h1: site is missing (expected an integer in [0, 2]', (p) => delete loose(p.hosts[1]!).site],
      ['host h1: capabilities is missing (expected an array)', (p) => delete loose(p.hosts[1]!).capabilities],
      ['stores[1]: id is missing (expected a string)', (p) => delete loose(p.stores[1]!).id],
      ['store cache-edge: site is missing', (p) => delete loose(p.stores[1]!).site],
      ['store cache-edge: tier is missing (expected a string)', (p) => delete loose(p.stores[1]!).tier],
      ['store cache-edge: rttMs is missing (expected an array)', (p) => delete loose(p.stores[1]!).rttMs],
      ['endpoints[2]: id is missing (expected a string)', (p) => delete loose(p.endpoints[2]!).id],
      [
        'endpoint e2: ratePerOrigin is missing (expected an array)',
        (p) => delete loose(endpoint(p, 'e2')).ratePerOrigin,
      ],
      [
        'endpoint e2: cpuMsPerCall is missing (expected an object)',
        (p) => delete loose(endpoint(p, 'e2')).cpuMsPerCall,
      ],
      ['endpoint e2: stores is missing (expected an array)', (p) => delete loose(endpoint(p, 'e2')).stores],
      ['endpoint e2: calls is missing (expected an array)', (p) => delete loose(endpoint(p, 'e2')).calls],
      [
        'endpoint e5: stores[0].store is missing (expected a string)',
        (p) => delete loose(endpoint(p, 'e5').stores[0]!).store,
      ],
      [
        'endpoint e0: calls[2].to is missing (expected a string)',
        (p) => delete loose(endpoint(p, 'e0').calls[2]!).to,
      ],
    ];
    for (const [message, change] of cases) await refused(problem(change), message);
  });

  it('names wrong types and wrong shapes', async () => {
    const cases: [string, (p: PlacementProblem) => void][] = [
      ['sites must be an array, got "s0"', (p) => (loose(p).sites = 's0')],
      ['sites[1] must be a string, got 7', (p) => (loose(p.sites)[1] = 7)],
      ['the problem has no sites', (p) => (p.sites = [])],
      ['rttMs must be a 3x3 matrix (one row and column per site), got 2 rows', (p) => p.rttMs.pop()],
      ['row 1 has 2 entries', (p) => p.rttMs[1]!.pop()],
      ['rttMs[2] must be an array, got null', (p) => (loose(p.rttMs)[2] = null)],
      ['hosts[0] must be an object, got null', (p) => (loose(p.hosts)[0] = null)],
      ['hosts[0]: id must be a string, got 0', (p) => (loose(p.hosts[0]!).id = 0)],
      ['host id "h0" appears twice', (p) => (p.hosts[1]!.id = 'h0')],
      [
        'host h1: site must be an integer in [0, 2] (an index into sites), got 3',
        (p) => (p.hosts[1]!.site = 3),
      ],
      [
        'host h1: site must be an integer in [0, 2] (an index into sites), got 0.5',
        (p) => (p.hosts[1]!.site = 0.5),
      ],
      [
        'host h1: capabilities[0] must be a string, got null',
        (p) => (loose(p.hosts[1]!).capabilities = [null]),
      ],
      [
        'host h1: tier must be a name that is not a built-in property',
        (p) => (p.hosts[1]!.tier = 'constructor'),
      ],
      [
        'store db-main: tier must be a name that is not a built-in property',
        (p) => (p.stores[0]!.tier = 'toString'),
      ],
      ['store db-main: rttMs needs 3 entries (one per site), got 2', (p) => p.stores[0]!.rttMs.pop()],
      ['store id "db-main" appears twice', (p) => (p.stores[1]!.id = 'db-main')],
      ['bandwidthCostPerByte.edge must be an object, got 3', (p) => (loose(p.bandwidthCostPerByte).edge = 3)],
      ['weights must be an object, got "1"', (p) => (loose(p).weights = '1')],
      ['endpoints[1] must be an object, got "e1"', (p) => (loose(p.endpoints)[1] = 'e1')],
      ['endpoint id "e0" appears twice', (p) => (p.endpoints[1]!.id = 'e0')],
      [
        'endpoint e0: ratePerOrigin needs 3 entries (one per site), got 4',
        (p) => endpoint(p, 'e0').ratePerOrigin.push(1),
      ],
      [
        'endpoint e0: cpuMsPerCall must be an object, got an array',
        (p) => (loose(endpoint(p, 'e0')).cpuMsPerCall = [1]),
      ],
      ['endpoint e0: calls must be an array, got null', (p) => (loose(endpoint(p, 'e0')).calls = null)],
      ['endpoint e0: calls[1] must be an object, got 5', (p) => (loose(endpoint(p, 'e0').calls)[1] = 5)],
      ['endpoint e0 calls unknown endpoint "ghost"', (p) => (endpoint(p, 'e0').calls[0]!.to = 'ghost')],
      ['endpoint e5 uses unknown store "ghost"', (p) => (endpoint(p, 'e5').stores[0]!.store = 'ghost')],
      ['endpoint e5: stores must be an array, got an object', (p) => (loose(endpoint(p, 'e5')).stores = {})],
      ['endpoint e2: current must be an array, got "h0"', (p) => (loose(endpoint(p, 'e2')).current = 'h0')],
      ['endpoint e2 names unknown host "h9"', (p) => (endpoint(p, 'e2').current = ['h9'])],
      [
        'endpoint e2 names unknown host "h9"',
        (p) => (endpoint(p, 'e2').policy = { pinnedHosts: ['h0', 'h9'] }),
      ],
      [
        'endpoint e2: policy must be an object, got "pinned"',
        (p) => (loose(endpoint(p, 'e2')).policy = 'pinned'),
      ],
      [
        'endpoint e2: policy.pinnedTier must be a string, got 1',
        (p) => (loose(endpoint(p, 'e2')).policy = { pinnedTier: 1 }),
      ],
      [
        'endpoint e2: policy.forbiddenTiers must be an array, got "edge"',
        (p) => (loose(endpoint(p, 'e2')).policy = { forbiddenTiers: 'edge' }),
      ],
      [
        'endpoint e2: policy.requires[0] must be a string, got null',
        (p) => (loose(endpoint(p, 'e2')).policy = { requires: [null] }),
      ],
    ];
    for (const [message, change] of cases) await refused(problem(change), message);
    await refused(null as unknown as PlacementProblem, 'the problem must be an object, got null');
  });

  it('bounds the traffic the call graph multiplies out, naming the endpoint', async () => {
    // c0 gets 1e9 requests/s from clients and calls c1 1000 times per request (1e12 requests/s, the limit),
    // which calls c2 1000 times per request: every number is in range, the product is not.
    const chain = (depth: number): PlacementProblem => ({
      sites: ['s0'],
      rttMs: [[1]],
      hosts: [{ id: 'h0', site: 0, tier: 'cluster', cpuMillis: 1e9, memoryMib: 1e9, capabilities: [] }],
      stores: [],
      endpoints: Array.from({ length: depth }, (_, i) => ({
        id: `c${i}`,
        ratePerOrigin: [i === 0 ? 1e9 : 0],
        cpuMsPerCall: { default: 0 },
        memoryMib: 1,
        stores: [],
        calls: i + 1 < depth ? [{ to: `c${i + 1}`, perRequest: 1000, bytesPerCall: 1 }] : [],
      })),
      bandwidthCostPerByte: {},
    });
    await accepted(chain(2));
    await refused(chain(3), 'endpoint c2 serves more than 1e12 requests/s');
    // A cycle that grows: refused before the traffic overflows.
    const cycle = chain(2);
    cycle.endpoints[0]!.ratePerOrigin = [10];
    cycle.endpoints[1]!.calls = [{ to: 'c0', perRequest: 2, bytesPerCall: 0 }];
    await refused(cycle, 'serves more than 1e12 requests/s', 'a call cycle must damp');
  });

  it('gives a finite answer with every factor at its maximum at once', async () => {
    const p = problem((q) => {
      q.rttMs = q.rttMs.map((row, i) => row.map((v, j) => (i === j ? v : 1e6)));
      for (const s of q.stores) s.rttMs = s.rttMs.map((v) => (v === null ? null : 1e6));
      for (const row of Object.values(q.bandwidthCostPerByte))
        for (const to of Object.keys(row)) row[to] = 1e3;
      q.weights = { egress: 1e6, migration: 1e6 };
      for (const h of q.hosts) Object.assign(h, { cpuMillis: 1e9, memoryMib: 1e9 });
      for (const e of q.endpoints) {
        e.moveCost = 1e12;
        // Rates and cpu scaled so the load still fits the hosts: the point is the size of the objective.
        e.ratePerOrigin = e.ratePerOrigin.map(() => 1e7);
        for (const tier of Object.keys(e.cpuMsPerCall)) e.cpuMsPerCall[tier] = 1e-6;
        for (const c of e.calls) Object.assign(c, { perRequest: 5, bytesPerCall: 1e12 });
        for (const a of e.stores) Object.assign(a, { perRequest: 1e6, bytesPerRequest: 1e12 });
      }
    });
    for (const backend of ['heuristic', 'highs'] as const) {
      const s = await solve(p, { backend, timeLimitMs: 300 });
      expect(Number.isFinite(s.objective)).toBe(true);
      expect(s.objective).toBeGreaterThan(1e20);
      expect(s.bound).toBeLessThanOrEqual(s.objective);
    }
  });

  it('still solves a valid synthetic problem', async () => {
    const s = await solve(problem(), { timeLimitMs: 500 });
    expect(Number.isFinite(s.objective)).toBe(true);
    expect(s.objective).toBeGreaterThan(0);
    expect(s.bound).toBeLessThanOrEqual(s.objective);
  });
});

describe('validateOptions', () => {
  it('accepts a time limit from just above 0 to an hour, or none', () => {
    for (const timeLimitMs of [undefined, 0.5, 1, 1000, 3_600_000])
      expect(() => validateOptions({ timeLimitMs })).not.toThrow();
  });

  it('refuses a NaN, infinite, non-positive or absurd time limit, naming timeLimitMs', () => {
    for (const timeLimitMs of [Number.NaN, Number.POSITIVE_INFINITY, 0, -5, 3_600_001, 1e308, '1000', null]) {
      let err: unknown;
      try {
        validateOptions({ timeLimitMs });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidProblemError);
      expect((err as Error).message).toMatch(/^timeLimitMs must be a finite number of ms in \(0, 3600000\]/);
    }
  });
});
