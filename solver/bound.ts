// A lower bound by Lagrangian relaxation, with no LP solver: prices on each host's CPU and memory decouple the
// agents (subgradient steps move them), and each call pair's cost is split between its two agents by
// multipliers moved by block-coordinate ascent (MPLP, Globerson & Jaakkola 2007), which reaches the bound of
// the pair linearisation's LP relaxation far faster than subgradient steps do. Every iterate is a valid bound;
// the best is kept with the priced assignment it came with, a starting point for repair. Pure: clock injected.
import { agentAllowed, type Instance, pairCost } from './compile.ts';
import type { Prices } from './problem.ts';

export interface BoundResult {
  bound: number;
  /** Each agent's cheapest priced host at the best iterate (may break capacity). */
  assignment: Int32Array;
  prices: Prices;
}

const shapeOf = (x: Instance) => `${x.A}:${x.P}:${x.H}:${x.Z}`;

export function lagrangianBound(
  x: Instance,
  upper: number,
  now: () => number,
  deadline: number,
  warm?: Prices,
  maxIterations = 1000,
): BoundResult {
  const { A, H, Z, P } = x;
  const reuse = warm?.shape === shapeOf(x);
  const lambda = Float64Array.from(reuse ? warm.cpu : new Array<number>(H).fill(0));
  const mu = Float64Array.from(reuse ? warm.memory : new Array<number>(H).fill(0));
  const phi = Float64Array.from(reuse ? warm.pairs : new Array<number>(P * 2 * Z).fill(0));
  // Memory and migration count once per replica: for agents of replicated endpoints they are left out, which
  // only lowers the bound (both are non-negative), so it stays valid.
  const single = Uint8Array.from(x.agentEndpoint, (e) => (x.agentsOf[e]!.length === 1 ? 1 : 0));
  const unary = new Float64Array(A * Z); // priced own cost, cheapest host per zone
  const unaryHost = new Int32Array(A * Z);
  const phiSum = new Float64Array(A * Z);
  for (let k = 0; k < P; k++)
    for (let z = 0; z < Z; z++) {
      const ia = x.pairA[k]! * Z + z;
      const ib = x.pairB[k]! * Z + z;
      phiSum[ia] = phiSum[ia]! + phi[2 * k * Z + z]!;
      phiSum[ib] = phiSum[ib]! + phi[(2 * k + 1) * Z + z]!;
    }

  const price = () => {
    unary.fill(Number.POSITIVE_INFINITY);
    for (let a = 0; a < A; a++) {
      const e = x.agentEndpoint[a]!;
      const mem = single[a] ? x.memory[e]! : 0;
      for (let h = 0; h < H; h++) {
        if (!agentAllowed(x, a, h)) continue;
        const z = x.hostZone[h]!;
        const move = single[a] && x.current[e * H + h] === 0 ? x.moveCost[e]! : 0;
        const c = x.zoneCost[a * Z + z]! + move + lambda[h]! * x.load[a * Z + z]! + mu[h]! * mem;
        if (c < unary[a * Z + z]!) {
          unary[a * Z + z] = c;
          unaryHost[a * Z + z] = h;
        }
      }
    }
  };

  const alpha = new Float64Array(Z);
  const beta = new Float64Array(Z);
  /** One MPLP sweep over the pairs; returns the sum of the pair terms' minima (>= 0 after an update). */
  const sweep = (): number => {
    let rest = 0;
    for (let k = 0; k < P; k++) {
      const a = x.pairA[k]!;
      const b = x.pairB[k]!;
      const fa = 2 * k * Z;
      const fb = (2 * k + 1) * Z;
      for (let z = 0; z < Z; z++) {
        alpha[z] = unary[a * Z + z]! + phiSum[a * Z + z]! - phi[fa + z]!;
        beta[z] = unary[b * Z + z]! + phiSum[b * Z + z]! - phi[fb + z]!;
      }
      for (let s = 0; s < Z; s++) {
        let m = Number.POSITIVE_INFINITY;
        for (let t = 0; t < Z; t++) m = Math.min(m, pairCost(x, k, s, t) + beta[t]!);
        const v = Number.isFinite(alpha[s]!) && Number.isFinite(m) ? (m - alpha[s]!) / 2 : 0;
        phiSum[a * Z + s] = phiSum[a * Z + s]! + v - phi[fa + s]!;
        phi[fa + s] = v;
      }
      for (let t = 0; t < Z; t++) {
        let m = Number.POSITIVE_INFINITY;
        for (let s = 0; s < Z; s++) m = Math.min(m, pairCost(x, k, s, t) + alpha[s]!);
        const v = Number.isFinite(beta[t]!) && Number.isFinite(m) ? (m - beta[t]!) / 2 : 0;
        phiSum[b * Z + t] = phiSum[b * Z + t]! + v - phi[fb + t]!;
        phi[fb + t] = v;
      }
      let least = Number.POSITIVE_INFINITY;
      for (let s = 0; s < Z; s++)
        for (let t = 0; t < Z; t++) {
          if (!Number.isFinite(alpha[s]!) || !Number.isFinite(beta[t]!)) continue;
          least = Math.min(least, pairCost(x, k, s, t) - phi[fa + s]! - phi[fb + t]!);
        }
      rest += Number.isFinite(least) ? least : 0;
    }
    return rest;
  };

  const assignment = new Int32Array(A);
  const usedCpu = new Float64Array(H);
  const usedMem = new Float64Array(H);
  let best: BoundResult = {
    bound: Number.NEGATIVE_INFINITY,
    assignment: new Int32Array(A).fill(-1),
    prices: { shape: shapeOf(x), cpu: [], memory: [], pairs: [] },
  };
  const gCpu = new Float64Array(H);
  const gMem = new Float64Array(H);
  let theta = 1;
  let stale = 0;
  // One iteration even past the deadline: any iterate is a valid bound, none is not.
  for (let it = 0; it < maxIterations && theta >= 1e-5 && (it === 0 || now() < deadline); it++) {
    price();
    const rest = P > 0 ? sweep() : 0;
    usedCpu.fill(0);
    usedMem.fill(0);
    let value = rest;
    for (let a = 0; a < A; a++) {
      let bz = 0;
      let bv = Number.POSITIVE_INFINITY;
      for (let z = 0; z < Z; z++) {
        const v = unary[a * Z + z]! + phiSum[a * Z + z]!;
        if (v < bv) {
          bv = v;
          bz = z;
        }
      }
      value += bv;
      const h = unaryHost[a * Z + bz]!;
      assignment[a] = h;
      usedCpu[h] = usedCpu[h]! + x.load[a * Z + bz]!;
      if (single[a]) usedMem[h] = usedMem[h]! + x.memory[x.agentEndpoint[a]!]!;
    }
    // Subgradients in shares of each host's capacity, so CPU (millicores) and memory (MiB) steps compare.
    let norm = 0;
    for (let h = 0; h < H; h++) {
      value -= lambda[h]! * x.capCpu[h]! + mu[h]! * x.capMem[h]!;
      gCpu[h] = (usedCpu[h]! - x.capCpu[h]!) / Math.max(1, x.capCpu[h]!);
      gMem[h] = (usedMem[h]! - x.capMem[h]!) / Math.max(1, x.capMem[h]!);
      // A price at zero only moves up: a slack host's negative subgradient is cut off.
      if (lambda[h] === 0 && gCpu[h]! < 0) gCpu[h] = 0;
      if (mu[h] === 0 && gMem[h]! < 0) gMem[h] = 0;
      norm += gCpu[h]! ** 2 + gMem[h]! ** 2;
    }
    if (value > best.bound + 1e-9 * Math.abs(value)) {
      best = {
        bound: value,
        assignment: Int32Array.from(assignment),
        prices: { shape: shapeOf(x), cpu: [...lambda], memory: [...mu], pairs: [...phi] },
      };
      stale = 0;
    } else if (++stale >= 10) {
      theta /= 2;
      stale = 0;
    }
    // Capacity not binding at these prices and the pair multipliers settled: nothing left to move.
    if (norm === 0 && stale > 0) break;
    if (norm > 0) {
      // Polyak's step towards the best known placement's cost, in price x capacity units.
      const step = (theta * Math.max(upper - value, 1e-9 * Math.abs(upper))) / norm;
      for (let h = 0; h < H; h++) {
        lambda[h] = Math.max(0, lambda[h]! + (step * gCpu[h]!) / Math.max(1, x.capCpu[h]!));
        mu[h] = Math.max(0, mu[h]! + (step * gMem[h]!) / Math.max(1, x.capMem[h]!));
      }
    }
  }
  return best;
}
