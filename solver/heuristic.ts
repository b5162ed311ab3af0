// The fast path: greedy by regret, then local search over single moves, with the call-graph terms evaluated
// against where neighbours are. It gives the exact backends a warm start, and alone handles instances too large
// to solve exactly within the time budget. Pure: the clock is a parameter.
import { cpuLoad, disallowed, hostCost, type Indexed, pairCost, siteCost } from './model.ts';
import type { Placement, PlacementProblem, SolverEndpoint } from './problem.ts';

export interface Tables {
  /** unary[e][h]: the endpoint's own cost on each host, Infinity where policy forbids it. */
  unary: Float64Array[];
  /** load[e][h]: CPU millicores the endpoint takes on that host. */
  load: Float64Array[];
  /** For each endpoint, the calls into it: [caller index, call]. */
  incoming: [number, SolverEndpoint['calls'][number]][][];
  /** For each endpoint, its calls: [callee index, call]. */
  outgoing: [number, SolverEndpoint['calls'][number]][][];
}

export function tables(p: PlacementProblem, ix: Indexed): Tables {
  const index = new Map(p.endpoints.map((e, i) => [e.id, i]));
  // Site-dependent costs once per site, not once per host: hosts outnumber sites.
  const unary = p.endpoints.map((e) => {
    const perSite = p.sites.map((_s, site) => siteCost(p, e, site, ix.storeSite));
    const row = new Float64Array(p.hosts.length);
    p.hosts.forEach((h, j) => {
      row[j] = disallowed(e, h) ? Number.POSITIVE_INFINITY : perSite[h.site]! + hostCost(e, h);
    });
    return row;
  });
  const load = p.endpoints.map((e) => Float64Array.from(p.hosts, (h) => cpuLoad(e, h.tier)));
  const incoming: Tables['incoming'] = p.endpoints.map(() => []);
  const outgoing: Tables['outgoing'] = p.endpoints.map(() => []);
  p.endpoints.forEach((e, i) => {
    for (const c of e.calls) {
      const j = index.get(c.to);
      if (j === undefined || j === i) continue;
      outgoing[i]!.push([j, c]);
      incoming[j]!.push([i, c]);
    }
  });
  return { unary, load, incoming, outgoing };
}

/** Host index per endpoint index; -1 while unplaced. */
export type Assignment = Int32Array;

class Capacity {
  cpu: Float64Array;
  mem: Float64Array;
  constructor(p: PlacementProblem) {
    this.cpu = Float64Array.from(p.hosts, (h) => h.cpuMillis - (h.cpuUsedMillis ?? 0));
    this.mem = Float64Array.from(p.hosts, (h) => h.memoryMib);
  }
  fits(p: PlacementProblem, t: Tables, e: number, h: number): boolean {
    return t.load[e]![h]! <= this.cpu[h]! + 1e-9 && p.endpoints[e]!.memoryMib <= this.mem[h]! + 1e-9;
  }
  take(p: PlacementProblem, t: Tables, e: number, h: number, sign: 1 | -1): void {
    this.cpu[h] = this.cpu[h]! - sign * t.load[e]![h]!;
    this.mem[h] = this.mem[h]! - sign * p.endpoints[e]!.memoryMib;
  }
}

/** Cost of the call-graph edges touching `e` if it sat on host `h`, with neighbours where `a` has them. */
function edgeCost(p: PlacementProblem, t: Tables, a: Assignment, e: number, h: number): number {
  const site = p.hosts[h]!.site;
  let cost = 0;
  for (const [f, c] of t.outgoing[e]!) {
    const hf = a[f]!;
    if (hf >= 0) cost += pairCost(p, p.endpoints[e]!, c, site, p.hosts[hf]!.site);
  }
  for (const [g, c] of t.incoming[e]!) {
    const hg = a[g]!;
    if (hg >= 0) cost += pairCost(p, p.endpoints[g]!, c, p.hosts[hg]!.site, site);
  }
  return cost;
}

/**
 * Greedy by regret: endpoints whose best host beats their second best by the most go first, each to the
 * host that is cheapest given the neighbours already placed. Returns the endpoints that fit nowhere.
 */
export function greedy(
  p: PlacementProblem,
  t: Tables,
  start?: Assignment,
): { assignment: Assignment; unplaced: number[] } {
  const n = p.endpoints.length;
  const a = new Int32Array(n).fill(-1);
  const cap = new Capacity(p);
  // A warm start keeps whatever still fits.
  if (start) {
    for (let e = 0; e < n; e++) {
      const h = start[e]!;
      if (h >= 0 && Number.isFinite(t.unary[e]![h]!) && cap.fits(p, t, e, h)) {
        a[e] = h;
        cap.take(p, t, e, h, 1);
      }
    }
  }
  const regret = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    let best = Number.POSITIVE_INFINITY;
    let second = Number.POSITIVE_INFINITY;
    for (const u of t.unary[e]!) {
      if (u < best) {
        second = best;
        best = u;
      } else if (u < second) {
        second = u;
      }
    }
    regret[e] = Number.isFinite(second) ? second - best : Number.POSITIVE_INFINITY;
  }
  const order = [...Array(n).keys()].filter((e) => a[e]! < 0).sort((x, y) => regret[y]! - regret[x]!);
  const unplaced: number[] = [];
  for (const e of order) {
    let bestH = -1;
    let bestCost = Number.POSITIVE_INFINITY;
    for (let h = 0; h < p.hosts.length; h++) {
      const u = t.unary[e]![h]!;
      if (!Number.isFinite(u) || !cap.fits(p, t, e, h)) continue;
      const c = u + edgeCost(p, t, a, e, h);
      if (c < bestCost) {
        bestCost = c;
        bestH = h;
      }
    }
    if (bestH < 0) {
      unplaced.push(e);
      continue;
    }
    a[e] = bestH;
    cap.take(p, t, e, bestH, 1);
  }
  return { assignment: a, unplaced };
}

/** Whether e and f call each other (swaps between them are skipped: the gain formula counts their edge twice). */
function connected(t: Tables, e: number, f: number): boolean {
  return t.outgoing[e]!.some(([x]) => x === f) || t.incoming[e]!.some(([x]) => x === f);
}

/**
 * Local search until nothing improves or the deadline passes: single moves first; when none helps, swaps of two
 * endpoints between hosts, which get past full hosts where single moves stall. Returns the total gain.
 */
export function improve(
  p: PlacementProblem,
  t: Tables,
  a: Assignment,
  now: () => number,
  deadline: number,
): number {
  const cap = new Capacity(p);
  for (let e = 0; e < a.length; e++) if (a[e]! >= 0) cap.take(p, t, e, a[e]!, 1);
  const cost = (e: number, h: number) => t.unary[e]![h]! + edgeCost(p, t, a, e, h);
  let gained = 0;
  for (;;) {
    let improved = false;
    for (let e = 0; e < a.length && now() < deadline; e++) {
      const h = a[e]!;
      if (h < 0) continue;
      const here = cost(e, h);
      cap.take(p, t, e, h, -1);
      let bestH = h;
      let bestCost = here;
      for (let k = 0; k < p.hosts.length; k++) {
        if (k === h) continue;
        const u = t.unary[e]![k]!;
        if (!Number.isFinite(u) || u >= bestCost || !cap.fits(p, t, e, k)) continue;
        const c = u + edgeCost(p, t, a, e, k);
        if (c < bestCost - 1e-9) {
          bestCost = c;
          bestH = k;
        }
      }
      a[e] = bestH;
      cap.take(p, t, e, bestH, 1);
      if (bestH !== h) {
        gained += here - bestCost;
        improved = true;
      }
    }
    if (!improved && now() < deadline)
      improved = swaps(p, t, a, cap, cost, now, deadline, (g) => (gained += g));
    if (!improved || now() >= deadline) return gained;
  }
}

function swaps(
  p: PlacementProblem,
  t: Tables,
  a: Assignment,
  cap: Capacity,
  cost: (e: number, h: number) => number,
  now: () => number,
  deadline: number,
  gain: (g: number) => void,
): boolean {
  const onHost: number[][] = p.hosts.map(() => []);
  a.forEach((h, e) => {
    if (h >= 0) onHost[h]!.push(e);
  });
  let improved = false;
  for (let e = 0; e < a.length && now() < deadline; e++) {
    const h = a[e]!;
    for (let k = 0; k < p.hosts.length; k++) {
      // Only hosts e would rather be on, where it does not fit as things stand.
      if (k === h || !(t.unary[e]![k]! < t.unary[e]![h]!)) continue;
      for (const f of onHost[k]!) {
        if (a[f] !== k || !Number.isFinite(t.unary[f]![h]!) || connected(t, e, f)) continue;
        const before = cost(e, h) + cost(f, k);
        cap.take(p, t, e, h, -1);
        cap.take(p, t, f, k, -1);
        const fits = cap.fits(p, t, e, k) && cap.fits(p, t, f, h);
        let accepted = false;
        if (fits) {
          a[e] = k;
          a[f] = h;
          const after = cost(e, k) + cost(f, h);
          if (after < before - 1e-9) {
            accepted = true;
            cap.take(p, t, e, k, 1);
            cap.take(p, t, f, h, 1);
            onHost[h]!.push(f);
            onHost[k]!.push(e);
            gain(before - after);
            improved = true;
          } else {
            a[e] = h;
            a[f] = k;
          }
        }
        if (!accepted) {
          cap.take(p, t, e, h, 1);
          cap.take(p, t, f, k, 1);
        } else {
          break;
        }
      }
      if (a[e] !== h) break;
    }
  }
  return improved;
}

export function toPlacement(p: PlacementProblem, a: Assignment): Placement {
  const out: Placement = {};
  p.endpoints.forEach((e, i) => {
    if (a[i]! >= 0) out[e.id] = p.hosts[a[i]!]!.id;
  });
  return out;
}

export function fromPlacement(p: PlacementProblem, placement: Placement): Assignment {
  const hostIndex = new Map(p.hosts.map((h, i) => [h.id, i]));
  return Int32Array.from(p.endpoints, (e) => hostIndex.get(placement[e.id] ?? '') ?? -1);
}
