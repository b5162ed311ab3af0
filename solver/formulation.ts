// The placement MILP as backend-neutral sparse data. x[a,h] binary puts agent a on host h; y[e,h] binary says a
// replicated endpoint runs on h (its agents may only use such hosts, at most maxReplicas of them). The call
// terms are linearised exactly by a flow formulation: for each pair and zone pair (s,t) a continuous
// z[p,s,t] >= 0 whose rows sum to the caller's zone indicator and whose columns sum to the callee's, so with
// integral x the only solution is the product of the two indicators, and the LP relaxation is the local
// polytope's, much tighter than product (McCormick) inequalities.
import { agentAllowed, type Instance, pairCost } from './compile.ts';
import type { State } from './state.ts';

export interface Milp {
  numCols: number;
  numRows: number;
  colCost: Float64Array;
  colUpper: Float64Array;
  integer: Uint8Array;
  rowLower: Float64Array;
  rowUpper: Float64Array;
  /** Row-major sparse matrix. */
  starts: Int32Array;
  indices: Int32Array;
  values: Float64Array;
  /** Column of x[a,h] at a * H + h, -1 where policy forbids it. */
  xCol: Int32Array;
  /** Column of y[e,h] at e * H + h, -1 where there is none. */
  yCol: Int32Array;
  /** First z column of each pair; its zone pairs follow in (s, t) order over pairZones. */
  zStart: Int32Array;
  /** Zones each agent may use. */
  agentZones: number[][];
}

/** Columns x pairs x zones^2 past which an exact solve is not attempted by default. */
export function milpSize(x: Instance): number {
  return x.A * x.H + x.P * x.Z * x.Z;
}

export function formulate(x: Instance, integral: boolean): Milp {
  const { A, H, E } = x;
  const cost: number[] = [];
  const upper: number[] = [];
  const integer: number[] = [];
  const col = (c: number, ub: number, int: boolean) => {
    cost.push(c);
    upper.push(ub);
    integer.push(int && integral ? 1 : 0);
    return cost.length - 1;
  };
  const replicated = (e: number) => x.agentsOf[e]!.length > 1;
  const xCol = new Int32Array(A * H).fill(-1);
  const yCol = new Int32Array(E * H).fill(-1);
  const agentZones: number[][] = [];
  for (let a = 0; a < A; a++) {
    const e = x.agentEndpoint[a]!;
    const zones = new Set<number>();
    for (let h = 0; h < H; h++) {
      if (!agentAllowed(x, a, h)) continue;
      const z = x.hostZone[h]!;
      zones.add(z);
      const move = !replicated(e) && x.current[e * H + h] === 0 ? x.moveCost[e]! : 0;
      xCol[a * H + h] = col(x.zoneCost[a * x.Z + z]! + move, 1, true);
    }
    agentZones.push([...zones].sort((p, q) => p - q));
  }
  for (let e = 0; e < E; e++) {
    if (!replicated(e)) continue;
    for (let h = 0; h < H; h++)
      if (x.allowed[e * H + h]) yCol[e * H + h] = col(x.current[e * H + h] ? 0 : x.moveCost[e]!, 1, true);
  }
  const zStart = new Int32Array(x.P);
  for (let k = 0; k < x.P; k++) {
    zStart[k] = cost.length;
    for (const s of agentZones[x.pairA[k]!]!)
      for (const t of agentZones[x.pairB[k]!]!) col(pairCost(x, k, s, t), Number.POSITIVE_INFINITY, false);
  }

  const starts: number[] = [0];
  const indices: number[] = [];
  const values: number[] = [];
  const lower: number[] = [];
  const rowUpper: number[] = [];
  const row = (terms: [number, number][], lo: number, hi: number) => {
    for (const [c, v] of terms) {
      indices.push(c);
      values.push(v);
    }
    starts.push(indices.length);
    lower.push(lo);
    rowUpper.push(hi);
  };
  const inf = Number.POSITIVE_INFINITY;
  for (let a = 0; a < A; a++) {
    const terms: [number, number][] = [];
    for (let h = 0; h < H; h++) if (xCol[a * H + h]! >= 0) terms.push([xCol[a * H + h]!, 1]);
    row(terms, 1, 1);
  }
  for (let e = 0; e < E; e++) {
    if (!replicated(e)) continue;
    const ys: [number, number][] = [];
    for (let h = 0; h < H; h++) {
      const y = yCol[e * H + h]!;
      if (y < 0) continue;
      ys.push([y, 1]);
      for (const a of x.agentsOf[e]!)
        row(
          [
            [xCol[a * H + h]!, 1],
            [y, -1],
          ],
          -inf,
          0,
        );
    }
    row(ys, -inf, x.maxReplicas[e]!);
  }
  for (let h = 0; h < H; h++) {
    const cpu: [number, number][] = [];
    const mem: [number, number][] = [];
    for (let a = 0; a < A; a++) {
      const c = xCol[a * H + h]!;
      if (c < 0) continue;
      const load = x.load[a * x.Z + x.hostZone[h]!]!;
      if (load > 0) cpu.push([c, load]);
      const e = x.agentEndpoint[a]!;
      if (!replicated(e) && x.memory[e]! > 0) mem.push([c, x.memory[e]!]);
    }
    for (let e = 0; e < E; e++)
      if (yCol[e * H + h]! >= 0 && x.memory[e]! > 0) mem.push([yCol[e * H + h]!, x.memory[e]!]);
    if (cpu.length > 0) row(cpu, -inf, x.capCpu[h]!);
    if (mem.length > 0) row(mem, -inf, x.capMem[h]!);
  }
  for (let k = 0; k < x.P; k++) {
    const za = agentZones[x.pairA[k]!]!;
    const zb = agentZones[x.pairB[k]!]!;
    const zone = (a: number, z: number): [number, number][] =>
      x.zoneHosts[z]!.filter((h) => xCol[a * H + h]! >= 0).map((h) => [xCol[a * H + h]!, -1]);
    // Flow rows: the caller's zone-s row of z sums to its indicator for s; the callee's column likewise.
    for (const [i, s] of za.entries()) {
      const terms = zb.map((_t, j): [number, number] => [zStart[k]! + i * zb.length + j, 1]);
      row([...terms, ...zone(x.pairA[k]!, s)], 0, 0);
    }
    for (const [j, t] of zb.entries()) {
      const terms = za.map((_s, i): [number, number] => [zStart[k]! + i * zb.length + j, 1]);
      row([...terms, ...zone(x.pairB[k]!, t)], 0, 0);
    }
  }
  return {
    numCols: cost.length,
    numRows: lower.length,
    colCost: Float64Array.from(cost),
    colUpper: Float64Array.from(upper),
    integer: Uint8Array.from(integer),
    rowLower: Float64Array.from(lower),
    rowUpper: Float64Array.from(rowUpper),
    starts: Int32Array.from(starts),
    indices: Int32Array.from(indices),
    values: Float64Array.from(values),
    xCol,
    yCol,
    zStart,
    agentZones,
  };
}

/** The column values of a complete assignment, to hand a backend as its starting incumbent. */
export function columnsOf(x: Instance, m: Milp, s: State): Float64Array {
  const v = new Float64Array(m.numCols);
  for (let a = 0; a < x.A; a++) v[m.xCol[a * x.H + s.host[a]!]!] = 1;
  for (let e = 0; e < x.E; e++)
    for (let h = 0; h < x.H; h++)
      if (m.yCol[e * x.H + h]! >= 0 && s.count[e * x.H + h]! > 0) v[m.yCol[e * x.H + h]!] = 1;
  for (let k = 0; k < x.P; k++) {
    const za = m.agentZones[x.pairA[k]!]!;
    const zb = m.agentZones[x.pairB[k]!]!;
    const i = za.indexOf(x.hostZone[s.host[x.pairA[k]!]!]!);
    const j = zb.indexOf(x.hostZone[s.host[x.pairB[k]!]!]!);
    v[m.zStart[k]! + i * zb.length + j] = 1;
  }
  return v;
}
