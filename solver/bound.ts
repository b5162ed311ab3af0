// A lower bound by Lagrangian relaxation, with no LP solver. Hosts that are interchangeable for every endpoint
// (same zone, same policy verdicts) form a class; prices on each class's total CPU and memory decouple the
// agents (a relaxation of the per-host limits: any placement within them is within the totals), each set by an
// exact line search with the other multipliers fixed. Each call pair's cost is split between its two agents by
// multipliers moved by block-coordinate ascent (MPLP, Globerson & Jaakkola 2007). A replicated endpoint's
// replicas are charged to its agents in equal shares (a replica host serves at least each agent routed there,
// so the shares never exceed the replicas' real cost). Both steps only raise the bound, which reaches the LP
// relaxation's; every iterate is a valid bound, and the best one's beliefs (each agent's priced cost per zone)
// are where the placement is decoded from (heuristic.ts). Pure: clock injected.
import { type Instance, pairCost } from './compile.ts';
import type { Prices } from './problem.ts';

export interface BoundResult {
  bound: number;
  /** A x Z: each agent's priced cost per zone with its calls' shares, at the best iterate (Infinity: not allowed). */
  belief: Float64Array;
  prices: Prices;
}

/** Hosts grouped into classes that no endpoint can tell apart, with their summed capacity. */
interface Classes {
  C: number;
  classZone: Int32Array;
  cpu: Float64Array;
  mem: Float64Array;
  /** E x C: cheapest migration cost of a replica in the class (0 if the endpoint runs on one of its hosts). */
  move: Float64Array;
  /** E x C: whether the endpoint may run there. */
  allowed: Uint8Array;
}

function classesOf(x: Instance): Classes {
  const { E, H } = x;
  const key = new Map<string, number>();
  const hostClass = new Int32Array(H);
  const classZone: number[] = [];
  for (let h = 0; h < H; h++) {
    const bits = new Uint8Array(E);
    for (let e = 0; e < E; e++) bits[e] = x.allowed[e * H + h]!;
    const k = `${x.hostZone[h]}:${bits.join('')}`;
    let c = key.get(k);
    if (c === undefined) {
      c = classZone.length;
      key.set(k, c);
      classZone.push(x.hostZone[h]!);
    }
    hostClass[h] = c;
  }
  const C = classZone.length;
  const cpu = new Float64Array(C);
  const mem = new Float64Array(C);
  const move = new Float64Array(E * C).fill(Number.POSITIVE_INFINITY);
  const allowed = new Uint8Array(E * C);
  for (let h = 0; h < H; h++) {
    const c = hostClass[h]!;
    cpu[c] = cpu[c]! + x.capCpu[h]!;
    mem[c] = mem[c]! + x.capMem[h]!;
    for (let e = 0; e < E; e++) {
      allowed[e * C + c] = x.allowed[e * H + h]!;
      const m = x.current[e * H + h] ? 0 : x.moveCost[e]!;
      if (m < move[e * C + c]!) move[e * C + c] = m;
    }
  }
  return { C, classZone: Int32Array.from(classZone), cpu, mem, move, allowed };
}

const shapeOf = (x: Instance, C: number) => `${x.A}:${x.P}:${x.H}:${x.Z}:${C}`;

/** Most passes of exact price line searches between two MPLP sweeps (fewer once no price moves). */
const PRICE_PASSES = 5;

export interface BoundOptions {
  /** Multipliers to start from (the previous solve's prices); used when the instance has the same shape. */
  warm?: Prices;
  maxIterations?: number;
  /** Most passes of price line searches per round (default PRICE_PASSES). */
  pricePasses?: number;
}

/**
 * The best bound reached by `deadline`: the value at the starting multipliers (0, or `warm`) is the first
 * iterate, so a bound is there even when no round fits in the time.
 */
export function lagrangianBound(
  x: Instance,
  now: () => number,
  deadline: number,
  o: BoundOptions = {},
): BoundResult {
  const { warm, maxIterations = 1000, pricePasses = PRICE_PASSES } = o;
  const { A, Z, P } = x;
  const ZZ = Z * Z;
  const k = classesOf(x);
  const C = k.C;
  const shape = shapeOf(x, C);
  const reuse = warm?.shape === shape;
  const lambda = reuse ? new Float64Array(warm.cpu) : new Float64Array(C);
  const mu = reuse ? new Float64Array(warm.memory) : new Float64Array(C);
  const phi = reuse ? new Float64Array(warm.pairs) : new Float64Array(P * 2 * Z);
  const share = Float64Array.from(x.agentEndpoint, (e) => 1 / x.agentsOf[e]!.length);
  const table = new Float64Array(P * ZZ);
  for (let p = 0; p < P; p++)
    for (let s = 0; s < Z; s++) for (let t = 0; t < Z; t++) table[p * ZZ + s * Z + t] = pairCost(x, p, s, t);
  // Per agent and class: the CPU and memory it would charge there, and its priced cost (Infinity: not allowed).
  const cpuUse = new Float64Array(A * C);
  const memUse = new Float64Array(A * C);
  const classCost = new Float64Array(A * C).fill(Number.POSITIVE_INFINITY);
  for (let a = 0; a < A; a++) {
    const e = x.agentEndpoint[a]!;
    for (let c = 0; c < C; c++) {
      if (!k.allowed[e * C + c]) continue;
      const i = a * C + c;
      cpuUse[i] = x.load[a * Z + k.classZone[c]!]!;
      memUse[i] = share[a]! * x.memory[e]!;
    }
  }
  // A class that could hold every agent allowed there has a price of 0 at any optimum of its line search: its
  // line searches are skipped (at 2000x50, memory binds nowhere: half of them).
  const binds = (use: Float64Array, capacity: Float64Array, prices: Float64Array) => {
    const out = new Uint8Array(C);
    for (let c = 0; c < C; c++) {
      let total = 0;
      for (let a = 0; a < A; a++) total += use[a * C + c]!;
      out[c] = total > capacity[c]! ? 1 : 0;
      if (!out[c]) prices[c] = 0;
    }
    return out;
  };
  const cpuBinds = binds(cpuUse, k.cpu, lambda);
  const memBinds = binds(memUse, k.mem, mu);
  for (let a = 0; a < A; a++) {
    const e = x.agentEndpoint[a]!;
    for (let c = 0; c < C; c++) {
      if (!k.allowed[e * C + c]) continue;
      const z = k.classZone[c]!;
      const i = a * C + c;
      classCost[i] =
        x.zoneCost[a * Z + z]! +
        share[a]! * k.move[e * C + c]! +
        lambda[c]! * cpuUse[i]! +
        mu[c]! * memUse[i]!;
    }
  }
  const phiSum = new Float64Array(A * Z);
  for (let p = 0; p < P; p++)
    for (let z = 0; z < Z; z++) {
      const ia = x.pairA[p]! * Z + z;
      const ib = x.pairB[p]! * Z + z;
      phiSum[ia] = phiSum[ia]! + phi[2 * p * Z + z]!;
      phiSum[ib] = phiSum[ib]! + phi[(2 * p + 1) * Z + z]!;
    }

  // Each agent's cheapest and second cheapest class with the call shares, kept up to date by the line searches.
  const first = new Float64Array(A);
  const firstClass = new Int32Array(A);
  const second = new Float64Array(A);
  const secondClass = new Int32Array(A);
  const rank = (a: number) => {
    let b1 = Number.POSITIVE_INFINITY;
    let b2 = Number.POSITIVE_INFINITY;
    let c1 = -1;
    let c2 = -1;
    for (let c = 0; c < C; c++) {
      const v = classCost[a * C + c]! + phiSum[a * Z + k.classZone[c]!]!;
      if (v < b1) {
        b2 = b1;
        c2 = c1;
        b1 = v;
        c1 = c;
      } else if (v < b2) {
        b2 = v;
        c2 = c;
      }
    }
    first[a] = b1;
    firstClass[a] = c1;
    second[a] = b2;
    secondClass[a] = c2;
  };
  /** Keeps the ranking after agent a's cost in class c changed to v, rescanning only when it must. */
  const rerank = (a: number, c: number, v: number) => {
    if (firstClass[a] === c) {
      if (v <= second[a]!) first[a] = v;
      else rank(a);
    } else if (v < first[a]!) {
      second[a] = first[a]!;
      secondClass[a] = firstClass[a]!;
      first[a] = v;
      firstClass[a] = c;
    } else if (secondClass[a] === c) {
      if (v <= second[a]!) second[a] = v;
      else rank(a);
    } else if (v < second[a]!) {
      second[a] = v;
      secondClass[a] = c;
    }
  };

  const breaks = new Float64Array(A);
  const weights = new Float64Array(A);
  /**
   * The price of one class's CPU (or memory) that maximises the bound with every other multiplier fixed: each
   * agent leaves the class once the price makes its next best class cheaper, and the best price is where the
   * agents still there first exceed the capacity (the bound is concave and piecewise linear in it).
   */
  const lineSearch = (c: number, use: Float64Array, prices: Float64Array, capacity: number): boolean => {
    const old = prices[c]!;
    let forced = 0;
    let n = 0;
    let highest = 0;
    for (let a = 0; a < A; a++) {
      const w = use[a * C + c]!;
      if (w <= 0 || classCost[a * C + c] === Number.POSITIVE_INFINITY) continue;
      const own = classCost[a * C + c]! + phiSum[a * Z + k.classZone[c]!]! - old * w;
      const other = firstClass[a] === c ? second[a]! : first[a]!;
      if (other === Number.POSITIVE_INFINITY) {
        forced += w;
        continue;
      }
      const b = (other - own) / w;
      if (b <= 0) continue;
      breaks[n] = b;
      weights[n] = w;
      n++;
      if (b > highest) highest = b;
    }
    const price =
      forced > capacity ? Math.max(old, highest) : weightedThreshold(breaks, weights, n, capacity - forced);
    if (Math.abs(price - old) <= 1e-12 * Math.max(1, old)) return false;
    prices[c] = price;
    for (let a = 0; a < A; a++) {
      const i = a * C + c;
      if (use[i]! > 0 && classCost[i] !== Number.POSITIVE_INFINITY) {
        classCost[i] = classCost[i]! + (price - old) * use[i]!;
        rerank(a, c, classCost[i]! + phiSum[a * Z + k.classZone[c]!]!);
      }
    }
    return true;
  };

  const unary = new Float64Array(A * Z); // priced own cost, cheapest class per zone
  const toZones = () => {
    unary.fill(Number.POSITIVE_INFINITY);
    for (let a = 0; a < A; a++)
      for (let c = 0; c < C; c++) {
        const z = k.classZone[c]!;
        if (classCost[a * C + c]! < unary[a * Z + z]!) {
          unary[a * Z + z] = classCost[a * C + c]!;
        }
      }
  };

  /** Pair p's term at its least over the zones both its agents may use, at the current multipliers. */
  const pairLeast = (p: number): number => {
    const a = x.pairA[p]!;
    const b = x.pairB[p]!;
    const fa = 2 * p * Z;
    const fb = (2 * p + 1) * Z;
    let least = Number.POSITIVE_INFINITY;
    for (let s = 0; s < Z; s++) {
      if (unary[a * Z + s] === Number.POSITIVE_INFINITY) continue;
      for (let t = 0; t < Z; t++) {
        if (unary[b * Z + t] === Number.POSITIVE_INFINITY) continue;
        const v = table[p * ZZ + s * Z + t]! - phi[fa + s]! - phi[fb + t]!;
        if (v < least) least = v;
      }
    }
    return Number.isFinite(least) ? least : 0;
  };
  /** The pair terms' minima at the current multipliers (what a sweep returns, without moving them). */
  const pairMinima = (): number => {
    let rest = 0;
    for (let p = 0; p < P; p++) rest += pairLeast(p);
    return rest;
  };

  const alpha = new Float64Array(Z);
  const beta = new Float64Array(Z);
  const callerPhi = new Float64Array(Z);
  /** One MPLP sweep over the pairs; returns the sum of the pair terms' minima (>= 0 after an update). */
  const sweep = (): number => {
    let rest = 0;
    for (let p = 0; p < P; p++) {
      const a = x.pairA[p]!;
      const b = x.pairB[p]!;
      const fa = 2 * p * Z;
      const fb = (2 * p + 1) * Z;
      const base = p * ZZ;
      for (let z = 0; z < Z; z++) {
        alpha[z] = unary[a * Z + z]! + phiSum[a * Z + z]! - phi[fa + z]!;
        beta[z] = unary[b * Z + z]! + phiSum[b * Z + z]! - phi[fb + z]!;
      }
      for (let s = 0; s < Z; s++) {
        let m = Number.POSITIVE_INFINITY;
        for (let t = 0; t < Z; t++) {
          const v = table[base + s * Z + t]! + beta[t]!;
          if (v < m) m = v;
        }
        const v = Number.isFinite(alpha[s]!) && Number.isFinite(m) ? (m - alpha[s]!) / 2 : 0;
        phiSum[a * Z + s] = phiSum[a * Z + s]! + v - phi[fa + s]!;
        phi[fa + s] = v;
      }
      // The caller's side is final now: the callee's update below also finds the pair term's least (what
      // pairLeast computes), in the same pass over the table. Zones the caller may not use are left out.
      for (let s = 0; s < Z; s++)
        callerPhi[s] =
          unary[a * Z + s] === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : phi[fa + s]!;
      let least = Number.POSITIVE_INFINITY;
      for (let t = 0; t < Z; t++) {
        let m = Number.POSITIVE_INFINITY;
        let reparam = Number.POSITIVE_INFINITY;
        for (let s = 0; s < Z; s++) {
          const cost = table[base + s * Z + t]!;
          const v = cost + alpha[s]!;
          if (v < m) m = v;
          const w = cost - callerPhi[s]!;
          if (w < reparam) reparam = w;
        }
        const v = Number.isFinite(beta[t]!) && Number.isFinite(m) ? (m - beta[t]!) / 2 : 0;
        phiSum[b * Z + t] = phiSum[b * Z + t]! + v - phi[fb + t]!;
        phi[fb + t] = v;
        if (unary[b * Z + t] !== Number.POSITIVE_INFINITY && reparam - v < least) least = reparam - v;
      }
      rest += Number.isFinite(least) ? least : 0;
    }
    return rest;
  };

  // The best iterate, copied into buffers allocated once (the multipliers are large at scale).
  let bestBound = Number.NEGATIVE_INFINITY;
  const bestBelief = new Float64Array(A * Z);
  const bestLambda = new Float64Array(C);
  const bestMu = new Float64Array(C);
  const bestPhi = new Float64Array(P * 2 * Z);
  /** The dual's value with the pair terms' minima `rest` (toZones done); keeps the best iterate. */
  const record = (rest: number): number => {
    let value = rest;
    for (let a = 0; a < A; a++) {
      let bv = Number.POSITIVE_INFINITY;
      for (let z = 0; z < Z; z++) bv = Math.min(bv, unary[a * Z + z]! + phiSum[a * Z + z]!);
      value += bv;
    }
    for (let c = 0; c < C; c++) value -= lambda[c]! * k.cpu[c]! + mu[c]! * k.mem[c]!;
    const gained = value - bestBound;
    if (gained > 0) {
      bestBound = value;
      for (let i = 0; i < A * Z; i++) bestBelief[i] = unary[i]! + phiSum[i]!;
      bestLambda.set(lambda);
      bestMu.set(mu);
      bestPhi.set(phi);
    }
    return gained;
  };
  toZones();
  record(P > 0 ? pairMinima() : 0);
  let settled = 0;
  for (let it = 0; it < maxIterations && now() < deadline; it++) {
    for (let a = 0; a < A; a++) rank(a);
    for (let pass = 0, moved = true; pass < pricePasses && moved; pass++) {
      moved = false;
      for (let c = 0; c < C; c++) {
        if (cpuBinds[c]) moved = lineSearch(c, cpuUse, lambda, k.cpu[c]!) || moved;
        if (memBinds[c]) moved = lineSearch(c, memUse, mu, k.mem[c]!) || moved;
      }
    }
    toZones();
    const gained = record(P > 0 ? sweep() : 0);
    // Settled: three rounds in a row moved the bound by less than a millionth.
    settled = gained <= 1e-6 * Math.abs(bestBound) ? settled + 1 : 0;
    if (settled >= 3) break;
  }
  return {
    bound: bestBound,
    belief: bestBelief,
    prices: { shape, cpu: bestLambda, memory: bestMu, pairs: bestPhi },
  };
}

/**
 * A bound that costs nothing: each agent's own cost in its cheapest zone (calls and migration cost >= 0), for
 * when there is no time for the Lagrangian's first iterate.
 */
export function trivialBound(x: Instance): number {
  let bound = 0;
  for (let a = 0; a < x.A; a++) {
    let least = Number.POSITIVE_INFINITY;
    for (let z = 0; z < x.Z; z++) least = Math.min(least, x.zoneCost[a * x.Z + z]!);
    bound += least;
  }
  return bound;
}

/**
 * The largest break b such that the weights of the breaks >= b add up to more than `room` (0 if they never
 * do): a weighted selection by three-way partitions, linear on average. Reorders the first n entries.
 */
export function weightedThreshold(
  breaks: Float64Array,
  weights: Float64Array,
  n: number,
  room: number,
): number {
  let lo = 0;
  let hi = n;
  let above = 0; // weight of the breaks known to be higher than any in [lo, hi)
  while (lo < hi) {
    const pivot = breaks[lo + ((hi - lo) >> 1)]!;
    // [lo, gt) > pivot, [gt, i) == pivot, [lt, hi) < pivot
    let gt = lo;
    let i = lo;
    let lt = hi;
    while (i < lt) {
      const b = breaks[i]!;
      if (b > pivot) {
        swap(breaks, weights, i++, gt++);
      } else if (b < pivot) {
        swap(breaks, weights, i, --lt);
      } else i++;
    }
    let wGreater = 0;
    for (let j = lo; j < gt; j++) wGreater += weights[j]!;
    let wEqual = 0;
    for (let j = gt; j < lt; j++) wEqual += weights[j]!;
    if (above + wGreater > room) hi = gt;
    else if (above + wGreater + wEqual > room) return pivot;
    else {
      above += wGreater + wEqual;
      lo = lt;
    }
  }
  return 0;
}

function swap(b: Float64Array, w: Float64Array, i: number, j: number): void {
  const tb = b[i]!;
  b[i] = b[j]!;
  b[j] = tb;
  const tw = w[i]!;
  w[i] = w[j]!;
  w[j] = tw;
}
