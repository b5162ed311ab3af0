// Checks a problem's shape and numbers before anything is computed from it, so every later step may index
// freely and no product the model forms can overflow: every numeric field must be a finite number within its
// documented range (RANGES, docs/solver.md), every required field present with the right type, and the
// traffic the call graph multiplies out bounded too. Each failure names the field at fault.
import { InvalidProblemError } from './errors.ts';
import type { PlacementProblem } from './problem.ts';

export interface Range {
  min: number;
  max: number;
  /** Only whole numbers. */
  integer?: boolean;
}

/**
 * The accepted range of each kind of number. With every factor at its maximum, the largest single term of the
 * objective (a call's egress: traffic x perRequest x bytesPerCall x costPerByte x egress weight) is
 * 1e12 x 1e6 x 1e12 x 1e3 x 1e6 = 1e39, and the sum over 2000 endpoints x 50 sites x their calls stays far from
 * the 1.8e308 at which doubles overflow; lower bounds of 0 keep every term >= 0 so no sum cancels.
 */
export const RANGES = {
  /** Round trips between sites and to stores, ms. */
  rttMs: { min: 0, max: 1e6 },
  /** Execution time per call, ms. */
  cpuMsPerCall: { min: 0, max: 1e6 },
  /** Client requests/s per endpoint and origin site. */
  ratePerOrigin: { min: 0, max: 1e9 },
  /** Calls or store round trips per request. */
  perRequest: { min: 0, max: 1e6 },
  /** Bytes per call or per request. */
  bytes: { min: 0, max: 1e12 },
  /** Cost per byte between tiers, in objective units. */
  costPerByte: { min: 0, max: 1e3 },
  /** Host CPU capacity and load, millicores. */
  cpuMillis: { min: 0, max: 1e9 },
  /** Host memory and load, and an endpoint's memory per replica, MiB. */
  memoryMib: { min: 0, max: 1e9 },
  /** Cost of starting a replica, objective units. */
  moveCost: { min: 0, max: 1e12 },
  /** `weights.egress`, `weights.migration`. */
  weight: { min: 0, max: 1e6 },
  /** `policy.maxReplicas`. */
  maxReplicas: { min: 1, max: 1e6, integer: true },
  /** Requests/s an endpoint serves summed over origin sites: its clients' plus what its callers cause. */
  traffic: { min: 0, max: 1e12 },
} satisfies Record<string, Range>;

/** Longest `timeLimitMs` accepted: an hour. */
export const MAX_TIME_LIMIT_MS = 3_600_000;

type Fields = Record<string, unknown>;

/** A value as a message quotes it: numbers as JavaScript prints them (NaN, Infinity, 1e+308), strings quoted. */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** `1e12` rather than `1000000000000`. */
function bound(n: number): string {
  const exp = Math.log10(Math.abs(n));
  return n !== 0 && Math.abs(n) >= 1e4 && Number.isInteger(exp) ? `${n < 0 ? '-' : ''}1e${exp}` : String(n);
}

function describe(r: Range): string {
  return `${r.integer ? 'an integer' : 'a finite number'} in [${bound(r.min)}, ${bound(r.max)}]`;
}

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

const inRange = (v: unknown, r: Range): v is number =>
  typeof v === 'number' &&
  Number.isFinite(v) &&
  v >= r.min &&
  v <= r.max &&
  (!r.integer || Number.isInteger(v));

function fail(message: string): never {
  throw new InvalidProblemError(message);
}

/** `where` prefixes the field: '' at the top level, `endpoint e3: ` inside one. */
function missing(where: string, field: string, expected: string): never {
  return fail(`${where}${field} is missing (expected ${expected})`);
}

function wrong(where: string, field: string, expected: string, got: unknown): never {
  return fail(`${where}${field} must be ${expected}, got ${show(got)}`);
}

function number(where: string, field: string, v: unknown, r: Range): number {
  if (v === undefined) missing(where, field, describe(r));
  if (!inRange(v, r)) wrong(where, field, describe(r), v);
  return v;
}

/** Each entry of `list`, named `field[i]`; names are only built for a failure (this runs per rate and call). */
function numbers(where: string, field: string, list: unknown[], r: Range): void {
  for (let i = 0; i < list.length; i++) if (!inRange(list[i], r)) number(where, `${field}[${i}]`, list[i], r);
}

function optionalNumber(where: string, field: string, v: unknown, r: Range): void {
  if (v !== undefined) number(where, field, v, r);
}

function array(where: string, field: string, v: unknown): unknown[] {
  if (v === undefined) missing(where, field, 'an array');
  if (!Array.isArray(v)) wrong(where, field, 'an array', v);
  return v;
}

function object(where: string, field: string, v: unknown): Fields {
  if (v === undefined) missing(where, field, 'an object');
  if (!isObject(v)) wrong(where, field, 'an object', v);
  return v;
}

function string(where: string, field: string, v: unknown): string {
  if (v === undefined) missing(where, field, 'a string');
  if (typeof v !== 'string') wrong(where, field, 'a string', v);
  return v;
}

function strings(where: string, field: string, v: unknown): string[] {
  const list = array(where, field, v);
  for (let i = 0; i < list.length; i++)
    if (typeof list[i] !== 'string') string(where, `${field}[${i}]`, list[i]);
  return list as string[];
}

/**
 * A host's or store's tier: the tables are looked up by it (`cpuMsPerCall[tier]`, `bandwidthCostPerByte[tier]`),
 * so a name every object inherits (`constructor`, `toString`, `__proto__`) would find a function there.
 */
function tier(where: string, v: unknown): void {
  const name = string(where, 'tier', v);
  if (name in Object.prototype)
    wrong(where, 'tier', 'a name that is not a built-in property of JavaScript objects', name);
}

/** An index into `sites`. */
function site(where: string, v: unknown, n: number): void {
  const r = { min: 0, max: n - 1, integer: true };
  if (v === undefined) missing(where, 'site', `${describe(r)} (an index into sites)`);
  if (!inRange(v, r)) wrong(where, 'site', `${describe(r)} (an index into sites)`, v);
}

/** The label of the i-th host, store or endpoint in messages: its id when it has a usable one. */
function label(kind: string, list: string, item: unknown, i: number): string {
  const id = isObject(item) ? item.id : undefined;
  return typeof id === 'string' && id !== '' ? `${kind} ${id}: ` : `${list}[${i}]: `;
}

export function validate(problem: PlacementProblem): void {
  const p: unknown = problem;
  if (!isObject(p)) wrong('', 'the problem', 'an object', p);
  const sites = strings('', 'sites', p.sites);
  const n = sites.length;
  if (n === 0) fail('the problem has no sites');

  const rtt = array('', 'rttMs', p.rttMs);
  if (rtt.length !== n)
    fail(`rttMs must be a ${n}x${n} matrix (one row and column per site), got ${rtt.length} rows`);
  rtt.forEach((row, s) => {
    const cells = array('', `rttMs[${s}]`, row);
    if (cells.length !== n)
      fail(
        `rttMs must be a ${n}x${n} matrix (one row and column per site), row ${s} has ${cells.length} entries`,
      );
    numbers('', `rttMs[${s}]`, cells, RANGES.rttMs);
  });

  const hosts = new Set<string>();
  array('', 'hosts', p.hosts).forEach((item, i) => {
    const at = label('host', 'hosts', item, i);
    const h = isObject(item) ? item : object('', `hosts[${i}]`, item);
    const id = string(at, 'id', h.id);
    if (hosts.has(id)) fail(`host id "${id}" appears twice`);
    hosts.add(id);
    tier(at, h.tier);
    site(at, h.site, n);
    number(at, 'cpuMillis', h.cpuMillis, RANGES.cpuMillis);
    number(at, 'memoryMib', h.memoryMib, RANGES.memoryMib);
    optionalNumber(at, 'cpuUsedMillis', h.cpuUsedMillis, RANGES.cpuMillis);
    optionalNumber(at, 'memoryUsedMib', h.memoryUsedMib, RANGES.memoryMib);
    strings(at, 'capabilities', h.capabilities);
  });

  const stores = new Set<string>();
  array('', 'stores', p.stores).forEach((item, i) => {
    const at = label('store', 'stores', item, i);
    const s = isObject(item) ? item : object('', `stores[${i}]`, item);
    const id = string(at, 'id', s.id);
    if (stores.has(id)) fail(`store id "${id}" appears twice`);
    stores.add(id);
    site(at, s.site, n);
    tier(at, s.tier);
    const reach = array(at, 'rttMs', s.rttMs);
    if (reach.length !== n) fail(`${at}rttMs needs ${n} entries (one per site), got ${reach.length}`);
    reach.forEach((v, t) => {
      if (v !== null && !inRange(v, RANGES.rttMs))
        wrong(at, `rttMs[${t}]`, `null (unreachable) or ${describe(RANGES.rttMs)}`, v);
    });
  });

  for (const [from, row] of Object.entries(object('', 'bandwidthCostPerByte', p.bandwidthCostPerByte)))
    for (const [to, v] of Object.entries(object('', `bandwidthCostPerByte.${from}`, row)))
      number('', `bandwidthCostPerByte.${from}.${to}`, v, RANGES.costPerByte);

  if (p.weights !== undefined) {
    const w = object('', 'weights', p.weights);
    optionalNumber('', 'weights.egress', w.egress, RANGES.weight);
    optionalNumber('', 'weights.migration', w.migration, RANGES.weight);
  }

  const endpoints = new Map<string, number>();
  const list = array('', 'endpoints', p.endpoints);
  /** Client requests/s of each endpoint, summed over origins. */
  const clients = new Float64Array(list.length);
  list.forEach((item, i) => {
    const at = label('endpoint', 'endpoints', item, i);
    const e = isObject(item) ? item : object('', `endpoints[${i}]`, item);
    const id = string(at, 'id', e.id);
    if (endpoints.has(id)) fail(`endpoint id "${id}" appears twice`);
    endpoints.set(id, i);
    const rates = array(at, 'ratePerOrigin', e.ratePerOrigin);
    if (rates.length !== n) fail(`${at}ratePerOrigin needs ${n} entries (one per site), got ${rates.length}`);
    numbers(at, 'ratePerOrigin', rates, RANGES.ratePerOrigin);
    for (const r of rates as number[]) clients[i] = clients[i]! + r;
    const cpu = object(at, 'cpuMsPerCall', e.cpuMsPerCall);
    for (const tier in cpu)
      if (!inRange(cpu[tier], RANGES.cpuMsPerCall))
        number(at, `cpuMsPerCall.${tier}`, cpu[tier], RANGES.cpuMsPerCall);
    number(at, 'memoryMib', e.memoryMib, RANGES.memoryMib);
    optionalNumber(at, 'moveCost', e.moveCost, RANGES.moveCost);
    array(at, 'stores', e.stores).forEach((access, k) => {
      if (!isObject(access) || typeof access.store !== 'string') {
        const a = object(at, `stores[${k}]`, access);
        string(at, `stores[${k}].store`, a.store);
        return;
      }
      if (!stores.has(access.store)) fail(`endpoint ${id} uses unknown store "${access.store}"`);
      if (!inRange(access.perRequest, RANGES.perRequest))
        number(at, `stores[${k}].perRequest`, access.perRequest, RANGES.perRequest);
      if (!inRange(access.bytesPerRequest, RANGES.bytes))
        number(at, `stores[${k}].bytesPerRequest`, access.bytesPerRequest, RANGES.bytes);
    });
    array(at, 'calls', e.calls).forEach((c, k) => {
      if (!isObject(c) || typeof c.to !== 'string') {
        const call = object(at, `calls[${k}]`, c);
        string(at, `calls[${k}].to`, call.to);
        return;
      }
      if (!inRange(c.perRequest, RANGES.perRequest))
        number(at, `calls[${k}].perRequest`, c.perRequest, RANGES.perRequest);
      if (!inRange(c.bytesPerCall, RANGES.bytes))
        number(at, `calls[${k}].bytesPerCall`, c.bytesPerCall, RANGES.bytes);
    });
    if (e.current !== undefined)
      for (const h of strings(at, 'current', e.current))
        if (!hosts.has(h)) fail(`endpoint ${id} names unknown host "${h}"`);
    if (e.policy !== undefined) {
      const policy = object(at, 'policy', e.policy);
      if (policy.pinnedHosts !== undefined)
        for (const h of strings(at, 'policy.pinnedHosts', policy.pinnedHosts))
          if (!hosts.has(h)) fail(`endpoint ${id} names unknown host "${h}"`);
      if (policy.pinnedTier !== undefined) string(at, 'policy.pinnedTier', policy.pinnedTier);
      if (policy.forbiddenTiers !== undefined) strings(at, 'policy.forbiddenTiers', policy.forbiddenTiers);
      if (policy.requires !== undefined) strings(at, 'policy.requires', policy.requires);
      optionalNumber(at, 'policy.maxReplicas', policy.maxReplicas, RANGES.maxReplicas);
    }
  });

  // The call graph as flat arrays (callee and perRequest of each call with traffic, by caller).
  const E = problem.endpoints.length;
  const first = new Int32Array(E + 1);
  const to: number[] = [];
  const per: number[] = [];
  problem.endpoints.forEach((e, i) => {
    for (const c of e.calls) {
      const f = endpoints.get(c.to);
      if (f === undefined) fail(`endpoint ${e.id} calls unknown endpoint "${c.to}"`);
      if (c.perRequest > 0) {
        to.push(f);
        per.push(c.perRequest);
      }
    }
    first[i + 1] = to.length;
  });
  checkTraffic(problem, clients, first, to, per);
}

/**
 * Fails when the traffic an endpoint serves, summed over origins, exceeds RANGES.traffic: calls multiply
 * their callers' traffic, so in-range rates and perRequest counts along a deep call chain could still overflow.
 * Totals over origins bound every origin's share and take one number per endpoint to push through the graph
 * (as traffic.ts pushes one per origin). A cycle that does not damp but grows too slowly to reach the limit
 * is left to trafficByOrigin to name.
 */
function checkTraffic(
  p: PlacementProblem,
  clients: Float64Array,
  first: Int32Array,
  to: number[],
  per: number[],
): void {
  const E = clients.length;
  const max = RANGES.traffic.max;
  const total = Float64Array.from(clients);
  let scale = 1e-12;
  for (const t of total) if (t > scale) scale = t;
  let pending = Float64Array.from(clients);
  let next = new Float64Array(E);
  for (let round = 0; round <= E + 10_000; round++) {
    let moved = 0;
    for (let e = 0; e < E; e++) {
      const inc = pending[e]!;
      if (inc > 0)
        for (let k = first[e]!; k < first[e + 1]!; k++) {
          const add = inc * per[k]!;
          next[to[k]!] = next[to[k]!]! + add;
          if (add > moved) moved = add;
        }
    }
    for (let f = 0; f < E; f++) {
      total[f] = total[f]! + next[f]!;
      if (!(total[f]! <= max))
        fail(
          `endpoint ${p.endpoints[f]!.id} serves more than ${bound(max)} requests/s once its callers' calls ` +
            'are counted (calls[].perRequest multiplies the traffic along the call graph; a call cycle must damp)',
        );
    }
    if (moved <= 1e-12 * scale) return;
    [pending, next] = [next, pending];
    next.fill(0);
  }
}

/** Checks the solve options a caller may get wrong; `timeLimitMs` must be a positive number of ms, an hour at most. */
export function validateOptions(options: { timeLimitMs?: unknown }): void {
  const v = options.timeLimitMs;
  if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_TIME_LIMIT_MS))
    wrong('', 'timeLimitMs', `a finite number of ms in (0, ${MAX_TIME_LIMIT_MS}] (an hour)`, v);
}
