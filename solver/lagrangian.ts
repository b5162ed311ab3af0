// A lower bound by Lagrangian relaxation of the capacity constraints: with prices on each host's CPU and
// memory, endpoints decouple and each picks its cheapest priced host; subgradient steps move the prices. For
// this assignment structure the bound approaches the LP relaxation's, at a fraction of its cost (no solver, O(E x H)
// per step). Call terms are not relaxed here: the caller adds their floor. Also yields the priced assignment,
// a good starting point for repair.
import type { Assignment, Tables } from './heuristic.ts';
import type { PlacementProblem } from './problem.ts';

export interface LagrangianResult {
  /** A valid lower bound on the optimum of the unary part under capacity. */
  bound: number;
  /** The priced assignment of the best iteration (may break capacity). */
  assignment: Assignment;
}

export function lagrangianBound(
  p: PlacementProblem,
  t: Tables,
  upper: number,
  now: () => number,
  deadline: number,
  maxIterations = 500,
): LagrangianResult {
  const E = p.endpoints.length;
  const H = p.hosts.length;
  const capCpu = Float64Array.from(p.hosts, (h) => h.cpuMillis - (h.cpuUsedMillis ?? 0));
  const capMem = Float64Array.from(p.hosts, (h) => h.memoryMib);
  const mem = Float64Array.from(p.endpoints, (e) => e.memoryMib);
  const lambda = new Float64Array(H);
  const mu = new Float64Array(H);
  const usedCpu = new Float64Array(H);
  const usedMem = new Float64Array(H);
  const assignment = new Int32Array(E);
  let best: LagrangianResult = { bound: Number.NEGATIVE_INFINITY, assignment: new Int32Array(E).fill(-1) };
  let theta = 2;
  let stale = 0;
  for (let it = 0; it < maxIterations && now() < deadline; it++) {
    usedCpu.fill(0);
    usedMem.fill(0);
    let value = 0;
    for (let e = 0; e < E; e++) {
      const unary = t.unary[e]!;
      const load = t.load[e]!;
      let bestH = -1;
      let bestC = Number.POSITIVE_INFINITY;
      for (let h = 0; h < H; h++) {
        const c = unary[h]! + lambda[h]! * load[h]! + mu[h]! * mem[e]!;
        if (c < bestC) {
          bestC = c;
          bestH = h;
        }
      }
      assignment[e] = bestH;
      value += bestC;
      if (bestH >= 0) {
        usedCpu[bestH] = usedCpu[bestH]! + load[bestH]!;
        usedMem[bestH] = usedMem[bestH]! + mem[e]!;
      }
    }
    let norm = 0;
    for (let h = 0; h < H; h++) {
      value -= lambda[h]! * capCpu[h]! + mu[h]! * capMem[h]!;
      const gc = usedCpu[h]! - capCpu[h]!;
      const gm = usedMem[h]! - capMem[h]!;
      // Prices at zero only move up: a slack host's negative subgradient is cut off.
      norm += (lambda[h]! > 0 || gc > 0 ? gc * gc : 0) + (mu[h]! > 0 || gm > 0 ? gm * gm : 0);
    }
    if (value > best.bound + 1e-9) {
      best = { bound: value, assignment: Int32Array.from(assignment) };
      stale = 0;
    } else if (++stale >= 20) {
      theta /= 2;
      stale = 0;
    }
    if (norm === 0 || theta < 1e-4) break; // the priced assignment fits: the bound is tight for the unary part
    const step = (theta * Math.max(upper - value, 1e-9)) / norm;
    for (let h = 0; h < H; h++) {
      lambda[h] = Math.max(0, lambda[h]! + step * (usedCpu[h]! - capCpu[h]!));
      mu[h] = Math.max(0, mu[h]! + step * (usedMem[h]! - capMem[h]!));
    }
  }
  return best;
}
