// The fast path: greedy by regret, then local search (agent moves, replica moves, swaps) with the call terms
// evaluated against where the neighbours are. It warm-starts the exact backends and alone handles instances
// too large to solve exactly within the budget. Pure: the clock is a parameter.
import { agentAllowed, type Instance, pairCost } from './compile.ts';
import { State } from './state.ts';

/** How much agent a prefers its best host over its second best (Infinity when it has one choice). */
function regrets(x: Instance): Float64Array {
  const out = new Float64Array(x.A);
  for (let a = 0; a < x.A; a++) {
    const e = x.agentEndpoint[a]!;
    let best = Number.POSITIVE_INFINITY;
    let second = Number.POSITIVE_INFINITY;
    for (let h = 0; h < x.H; h++) {
      if (!agentAllowed(x, a, h)) continue;
      const c = x.zoneCost[a * x.Z + x.hostZone[h]!]! + (x.current[e * x.H + h] ? 0 : x.moveCost[e]!);
      if (c < best) {
        second = best;
        best = c;
      } else if (c < second) second = c;
    }
    out[a] = second - best;
  }
  return out;
}

/**
 * Whether host h could take all of endpoint e's agents not placed yet: asked before e's last replica opens
 * there, since the agents still to come will have nowhere else to go.
 */
function roomForRest(s: State, e: number, h: number): boolean {
  const x = s.x;
  let load = 0;
  for (const b of x.agentsOf[e]!) if (s.host[b]! < 0) load += x.load[b * x.Z + x.hostZone[h]!]!;
  return load <= s.cpu[h]! + 1e-9 * Math.max(1, x.capCpu[h]!);
}

/** The cheapest host agent a fits on as things stand, or -1. */
function cheapestFit(s: State, a: number, scratch: Float64Array): number {
  const x = s.x;
  const e = x.agentEndpoint[a]!;
  const lastSlot = x.agentsOf[e]!.length > 1 && s.replicas[e] === x.maxReplicas[e]! - 1;
  const pairs = s.pairCosts(a, scratch);
  let best = -1;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let h = 0; h < x.H; h++) {
    const z = x.hostZone[h]!;
    const c = x.zoneCost[a * x.Z + z]! + pairs[z]! + s.migration(a, h);
    if (c < bestCost && s.fits(a, h) && !(lastSlot && s.count[e * x.H + h] === 0 && !roomForRest(s, e, h))) {
      bestCost = c;
      best = h;
    }
  }
  return best;
}

/**
 * Greedy by regret: agents whose best host beats their second best by the most go first, each to the host
 * that is cheapest given the neighbours already placed. A start assignment keeps whatever of it still fits.
 * With `byLoad`, the biggest agents go first instead: first-fit decreasing, for when capacity is what binds.
 */
export function greedy(x: Instance, start?: Int32Array, byLoad = false): State {
  const s = new State(x);
  if (start)
    for (let a = 0; a < x.A; a++) {
      const h = start[a]!;
      if (h >= 0 && s.fits(a, h)) s.add(a, h);
    }
  const maxLoad = (a: number) => {
    let m = 0;
    for (let z = 0; z < x.Z; z++) m = Math.max(m, x.load[a * x.Z + z]!);
    return m + x.memory[x.agentEndpoint[a]!]! * 1e-3;
  };
  const order = [...Array(x.A).keys()].filter((a) => s.host[a]! < 0);
  // Keyed only when there is something to place: from a previous placement there usually is little.
  if (order.length === 0) return s;
  const key = byLoad ? Float64Array.from({ length: x.A }, (_, a) => maxLoad(a)) : regrets(x);
  order.sort((a, b) => key[b]! - key[a]!);
  const scratch = new Float64Array(x.Z);
  for (const a of order) {
    const h = cheapestFit(s, a, scratch);
    if (h >= 0) s.add(a, h);
  }
  return s;
}

/**
 * Local search until nothing improves or the deadline passes. Each pass moves every agent to its cheapest
 * host if that gains; replicated endpoints also try moving a whole replica; when a pass gains nothing, agents
 * move to another zone with the neighbours that follow them, then swaps of two agents get past full hosts, and
 * hosts choose afresh which agents they run. `fresh` false (a re-solve from a converged placement): after one
 * pass of single moves, every move is tried only around what moved since the search began, which is where a
 * small change leaves something to gain; a full pass costs ~10-50 ms at scale. Returns the total gain.
 */
export function improve(s: State, now: () => number, deadline: number, fresh = true): number {
  const x = s.x;
  const scratch = new Float64Array(x.Z);
  const zoneCosts = new Float64Array(x.Z);
  // Compound moves are tried again only for agents whose call neighbourhood changed since their last try;
  // swaps (from the agent's side) and refills likewise, unless the search is fresh.
  const stale = new Uint8Array(x.A).fill(fresh ? 1 : 0);
  // Not fresh, single moves too after the first pass: the agents that moved and their call neighbours (a
  // host that was left is refilled from anywhere below).
  const unsettled = new Uint8Array(x.A).fill(1);
  const unswapped = new Uint8Array(x.A).fill(fresh ? 1 : 0);
  const unfilled = new Uint8Array(x.H).fill(fresh ? 1 : 0);
  const last = Int32Array.from(s.host);
  const markMoved = () => {
    for (let a = 0; a < x.A; a++) {
      if (s.host[a] === last[a]) continue;
      unfilled[last[a]!] = 1;
      unfilled[s.host[a]!] = 1;
      last[a] = s.host[a]!;
      stale[a] = 1;
      unswapped[a] = 1;
      unsettled[a] = 1;
      for (const p of x.pairsOf[a]!)
        for (const b of [x.pairA[p]!, x.pairB[p]!]) {
          stale[b] = 1;
          unswapped[b] = 1;
          unsettled[b] = 1;
        }
    }
  };
  let gained = 0;
  for (;;) {
    let pass = 0;
    for (let a = 0; a < x.A && now() < deadline; a++) if (unsettled[a]) pass += moveAgent(s, a, scratch);
    if (!fresh) unsettled.fill(0);
    for (let e = 0; e < x.E && now() < deadline; e++)
      if (x.maxReplicas[e]! > 1) pass += moveReplicas(s, e, scratch, zoneCosts);
    markMoved();
    if (pass <= 0)
      for (let a = 0; a < x.A && now() < deadline; a++)
        if (stale[a]) {
          stale[a] = 0;
          pass += moveWithNeighbours(s, a, scratch);
        }
    if (pass <= 0 && now() < deadline) {
      pass += swaps(s, now, deadline, unswapped);
      if (!fresh) unswapped.fill(0);
    }
    for (let h = 0; h < x.H && pass <= 0 && now() < deadline; h++)
      if (unfilled[h]) {
        if (!fresh) unfilled[h] = 0;
        pass += refill(s, h);
      }
    markMoved();
    gained += pass;
    if (pass <= 0 || now() >= deadline) return gained;
  }
}

/** Units a host's CPU is cut into for the knapsack of `refill`. */
const KNAPSACK_UNITS = 400;
/** Most agents from elsewhere that `refill` considers for one host (those that would gain most). */
const REFILL_CANDIDATES = 60;

/**
 * Chooses afresh which agents a host runs, as a knapsack over its CPU: the agents on it and those elsewhere
 * that would gain by coming, each worth what it saves there over its best place elsewhere (neighbours where
 * they are). Small hosts near clients are where this pays: which endpoints get the scarce room is a packing
 * decision that moves of one or two agents cannot reach. Kept only if the objective, recomputed, gains.
 */
function refill(s: State, k: number): number {
  const x = s.x;
  const single = (a: number) => x.maxReplicas[x.agentEndpoint[a]!] === 1;
  const inside: number[] = [];
  let fixedCpu = 0;
  for (let a = 0; a < x.A; a++)
    if (s.host[a] === k) {
      if (single(a)) inside.push(a);
      else fixedCpu += x.load[a * x.Z + x.hostZone[k]!]!;
    }
  const outside: [number, number][] = [];
  for (let a = 0; a < x.A; a++) {
    const h = s.host[a]!;
    if (h === k || !single(a) || !agentAllowed(x, a, k)) continue;
    const gain = s.cost(a, h) - s.cost(a, k);
    if (gain > 1e-9 * Math.abs(s.cost(a, h))) outside.push([a, gain]);
  }
  if (outside.length === 0) return 0;
  outside.sort((p, q) => q[1] - p[1]);
  outside.length = Math.min(outside.length, REFILL_CANDIDATES);
  // Worth of each candidate on k: what it saves there over where it would be otherwise.
  const candidates = [...inside, ...outside.map(([a]) => a)];
  const worth = candidates.map((a, i) => {
    if (i >= inside.length) return outside[i - inside.length]![1];
    s.remove(a);
    const [alt, altCost] = bestHost(s, a, k);
    const here = s.cost(a, k);
    s.add(a, k);
    return alt < 0 ? Number.POSITIVE_INFINITY : altCost - here;
  });
  const room = x.capCpu[k]! - fixedCpu;
  if (room <= 0) return 0;
  const units = candidates.map((a) => Math.ceil((x.load[a * x.Z + x.hostZone[k]!]! / room) * KNAPSACK_UNITS));
  // 0/1 knapsack by dynamic programming over CPU units; agents that cannot leave are forced in.
  const n = candidates.length;
  const W = KNAPSACK_UNITS;
  const best = new Float64Array((n + 1) * (W + 1)).fill(Number.NEGATIVE_INFINITY);
  best.fill(0, 0, W + 1);
  for (let i = 0; i < n; i++) {
    const w = units[i]!;
    const v = worth[i]!;
    for (let c = 0; c <= W; c++) {
      const skip = v === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : best[i * (W + 1) + c]!;
      const take =
        c >= w ? best[i * (W + 1) + c - w]! + (Number.isFinite(v) ? v : 0) : Number.NEGATIVE_INFINITY;
      best[(i + 1) * (W + 1) + c] = Math.max(skip, take);
    }
  }
  if (best[n * (W + 1) + W] === Number.NEGATIVE_INFINITY) return 0;
  const chosen = new Uint8Array(n);
  for (let i = n, c = W; i > 0; i--) {
    const w = units[i - 1]!;
    const v = worth[i - 1]!;
    const take =
      c >= w ? best[(i - 1) * (W + 1) + c - w]! + (Number.isFinite(v) ? v : 0) : Number.NEGATIVE_INFINITY;
    if (take === best[i * (W + 1) + c] && take !== Number.NEGATIVE_INFINITY) {
      chosen[i - 1] = 1;
      c -= w;
    }
  }
  if (candidates.every((_a, i) => (chosen[i] === 1) === i < inside.length)) return 0;

  const before = s.total();
  const moved: [number, number][] = [];
  const undo = () => {
    for (let i = moved.length - 1; i >= 0; i--) {
      const [a, from] = moved[i]!;
      if (s.host[a]! >= 0) s.remove(a);
      s.add(a, from);
    }
    return 0;
  };
  const leaving = inside.filter((_a, i) => !chosen[i]);
  for (const a of leaving) {
    moved.push([a, k]);
    s.remove(a);
  }
  for (const [i, a] of candidates.entries()) {
    if (i < inside.length || !chosen[i]) continue;
    moved.push([a, s.host[a]!]);
    s.remove(a);
    if (!s.fits(a, k)) return undo();
    s.add(a, k);
  }
  for (const a of leaving) {
    const [h] = bestHost(s, a, k);
    if (h < 0) return undo();
    s.add(a, h);
  }
  const gain = before - s.total();
  return gain > 1e-9 * Math.abs(before) ? gain : undo();
}

/** The cheapest host agent a fits on now (any host but `not`), with its cost there; -1 if none. */
function bestHost(s: State, a: number, not: number, zone = -1): [number, number] {
  const x = s.x;
  let best = -1;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let h = 0; h < x.H; h++) {
    if (h === not || (zone >= 0 && x.hostZone[h] !== zone) || !s.fits(a, h)) continue;
    const c = s.cost(a, h);
    if (c < bestCost) {
      best = h;
      bestCost = c;
    }
  }
  return [best, bestCost];
}

/**
 * Moves agent a to another zone and lets each of its call neighbours follow it there (to their best host in
 * that zone) where that gains, keeping it all if the total gains: a caller and its callee that only gain
 * together (the call costs more than either's own saving) move in one step. Zones tried: those where an
 * estimate of the gain says it may pay.
 */
function moveWithNeighbours(s: State, a: number, scratch: Float64Array): number {
  const x = s.x;
  const Z = x.Z;
  const from = s.host[a]!;
  const fromZone = x.hostZone[from]!;
  if (x.pairsOf[a]!.length === 0) return 0;
  const neighbours = [...new Set(x.pairsOf[a]!.map((p) => (x.pairA[p] === a ? x.pairB[p]! : x.pairA[p]!)))];
  // The move's gain per zone, estimated with capacity and calls between the neighbours left out, so only
  // promising zones are tried exactly: each neighbour stays or follows, whichever is cheaper.
  const estimate = new Float64Array(Z);
  const canGo = new Uint8Array(Z);
  for (let h = 0; h < x.H; h++) if (agentAllowed(x, a, h)) canGo[x.hostZone[h]!] = 1;
  const moveSaving = (b: number, z: number) => {
    const e = x.agentEndpoint[b]!;
    let least = x.moveCost[e]!;
    for (const h of x.zoneHosts[z]!) if (x.current[e * x.H + h]) least = 0;
    return s.migration(b, s.host[b]!) - least;
  };
  for (let z = 0; z < Z; z++)
    estimate[z] = x.zoneCost[a * Z + z]! - x.zoneCost[a * Z + fromZone]! - moveSaving(a, z);
  const link = (p: number, za: number, zn: number) =>
    x.pairA[p] === a ? pairCost(x, p, za, zn) : pairCost(x, p, zn, za);
  for (const n of neighbours) {
    const zn = x.hostZone[s.host[n]!]!;
    const shared = x.pairsOf[n]!.filter((p) => x.pairA[p] === a || x.pairB[p] === a);
    s.pairCosts(n, scratch);
    let sharedNow = 0;
    for (const p of shared) sharedNow += link(p, fromZone, zn);
    const othersHere = scratch[zn]! - sharedNow;
    for (let z = 0; z < Z; z++) {
      if (!canGo[z]) continue;
      let stay = -sharedNow;
      let follow = -sharedNow;
      let sharedAtZ = 0;
      for (const p of shared) {
        stay += link(p, z, zn);
        follow += link(p, z, z);
        sharedAtZ += link(p, fromZone, z);
      }
      follow +=
        x.zoneCost[n * Z + z]! -
        x.zoneCost[n * Z + zn]! -
        moveSaving(n, z) +
        scratch[z]! -
        sharedAtZ -
        othersHere;
      estimate[z] = estimate[z]! + Math.min(stay, follow);
    }
  }
  const zones: number[] = [];
  const tolerance = 1e-9 * (Math.abs(x.zoneCost[a * Z + fromZone]!) + 1);
  for (let z = 0; z < Z; z++) if (z !== fromZone && canGo[z] && estimate[z]! < -tolerance) zones.push(z);
  let gained = 0;
  for (const z of zones) {
    if (s.host[a] !== from) break;
    const moved: [number, number][] = [];
    const before = s.cost(a, from);
    s.remove(a);
    const [to, after] = bestHost(s, a, from, z);
    if (to < 0) {
      s.add(a, from);
      continue;
    }
    s.add(a, to);
    moved.push([a, from]);
    let delta = after - before;
    for (const n of neighbours) {
      const at = s.host[n]!;
      if (x.hostZone[at] === z) continue;
      const here = s.cost(n, at);
      s.remove(n);
      const [h, c] = bestHost(s, n, at, z);
      if (h >= 0 && c < here) {
        s.add(n, h);
        moved.push([n, at]);
        delta += c - here;
      } else s.add(n, at);
    }
    if (delta < -1e-9 * Math.abs(before) - 1e-12) {
      gained -= delta;
      continue;
    }
    for (let i = moved.length - 1; i >= 0; i--) {
      const [b, back] = moved[i]!;
      s.remove(b);
      s.add(b, back);
    }
  }
  return gained;
}

function moveAgent(s: State, a: number, scratch: Float64Array): number {
  const x = s.x;
  const from = s.host[a]!;
  const here = s.cost(a, from);
  s.remove(a);
  const pairs = s.pairCosts(a, scratch);
  let best = from;
  let bestCost = here;
  for (let h = 0; h < x.H; h++) {
    if (h === from) continue;
    const z = x.hostZone[h]!;
    const c = x.zoneCost[a * x.Z + z]! + pairs[z]! + s.migration(a, h);
    if (c < bestCost - 1e-9 * Math.abs(bestCost) - 1e-12 && s.fits(a, h)) {
      best = h;
      bestCost = c;
    }
  }
  s.add(a, best);
  return here - bestCost;
}

/** Moves all of endpoint e's agents on one host to another host (relocating a replica), if that gains. */
function moveReplicas(s: State, e: number, scratch: Float64Array, zoneCosts: Float64Array): number {
  const x = s.x;
  let gained = 0;
  const hosts = [...new Set(x.agentsOf[e]!.map((a) => s.host[a]!))];
  for (const from of hosts) {
    const group = x.agentsOf[e]!.filter((a) => s.host[a] === from);
    let before = 0;
    for (const a of group) before += s.cost(a, from);
    for (const a of group) s.remove(a);
    // The group's cost per zone (agents of one endpoint share no pairs), to skip zones that cannot gain: the
    // migration part differs by at most one move cost.
    zoneCosts.fill(0);
    for (const a of group) {
      s.pairCosts(a, scratch);
      for (let z = 0; z < x.Z; z++) zoneCosts[z] = zoneCosts[z]! + x.zoneCost[a * x.Z + z]! + scratch[z]!;
    }
    let best = from;
    let bestCost = before;
    for (let h = 0; h < x.H; h++) {
      if (h === from || s.count[e * x.H + h]! > 0) continue;
      if (zoneCosts[x.hostZone[h]!]! >= bestCost + x.moveCost[e]!) continue;
      let c = 0;
      const placed: number[] = [];
      for (const a of group) {
        if (!s.fits(a, h)) break;
        c += s.cost(a, h);
        s.add(a, h);
        placed.push(a);
      }
      for (const a of placed) s.remove(a);
      if (placed.length === group.length && c < bestCost - 1e-9 * Math.abs(bestCost) - 1e-12) {
        best = h;
        bestCost = c;
      }
    }
    for (const a of group) s.add(a, best);
    gained += before - bestCost;
  }
  return gained;
}

/**
 * Swaps two agents of unreplicated endpoints between hosts when that gains (agent a among those marked in
 * `from`, the other anywhere): the way past full hosts. Each
 * agent's cost per zone with its neighbours where they are now is kept (refreshed around every swap made), so
 * candidates are ranked by their estimated gain and only promising ones are tried exactly.
 */
function swaps(s: State, now: () => number, deadline: number, from: Uint8Array): number {
  const x = s.x;
  const Z = x.Z;
  const single = (a: number) => x.maxReplicas[x.agentEndpoint[a]!] === 1;
  const onHost: number[][] = Array.from({ length: x.H }, () => []);
  for (let a = 0; a < x.A; a++) if (single(a)) onHost[s.host[a]!]!.push(a);
  const zoneCosts = new Float64Array(x.A * Z);
  const scratch = new Float64Array(Z);
  const refresh = (a: number) => {
    s.pairCosts(a, scratch);
    for (let z = 0; z < Z; z++) zoneCosts[a * Z + z] = x.zoneCost[a * Z + z]! + scratch[z]!;
  };
  for (let a = 0; a < x.A; a++) refresh(a);
  /** What agent a (of a single-host endpoint) saves by going from host `from` to host `to`. */
  const saving = (a: number, from: number, to: number) => {
    const e = x.agentEndpoint[a]!;
    const move = (h: number) => (x.current[e * x.H + h] ? 0 : x.moveCost[e]!);
    return (
      zoneCosts[a * Z + x.hostZone[from]!]! + move(from) - zoneCosts[a * Z + x.hostZone[to]!]! - move(to)
    );
  };
  let gained = 0;
  for (let a = 0; a < x.A && now() < deadline; a++) {
    if (!single(a) || !from[a]) continue;
    const h = s.host[a]!;
    const zh = x.hostZone[h]!;
    const bestMove = x.moveCost[x.agentEndpoint[a]!]!;
    for (let z = 0; z < Z && s.host[a] === h; z++) {
      // Only zones a would rather be in (the other way round is tried from b's side); migration can add at
      // most one move cost.
      if (zoneCosts[a * Z + zh]! - zoneCosts[a * Z + z]! + bestMove <= 0) continue;
      for (const k of x.zoneHosts[z]!) {
        if (s.host[a] !== h) break;
        if (k === h || !agentAllowed(x, a, k)) continue;
        const gainA = saving(a, h, k);
        // Relative to a's cost: rounding leaves crumbs where two zones cost the same.
        const tolerance = 1e-9 * (Math.abs(zoneCosts[a * Z + x.hostZone[h]!]!) + 1);
        if (gainA <= tolerance) continue;
        for (const b of onHost[k]!) {
          if (s.host[b] !== k || !agentAllowed(x, b, h)) continue;
          if (gainA + saving(b, k, h) <= tolerance) continue;
          const loadA = x.load[a * Z + x.hostZone[k]!]! - x.load[b * Z + x.hostZone[k]!]!;
          const loadB = x.load[b * Z + x.hostZone[h]!]! - x.load[a * Z + x.hostZone[h]!]!;
          if (loadA > s.cpu[k]! + 1e-9 * x.capCpu[k]! || loadB > s.cpu[h]! + 1e-9 * x.capCpu[h]!) continue;
          const memA = x.memory[x.agentEndpoint[a]!]! - x.memory[x.agentEndpoint[b]!]!;
          if (memA > s.mem[k]! + 1e-9 * x.capMem[k]! || -memA > s.mem[h]! + 1e-9 * x.capMem[h]!) continue;
          const gain = trySwap(s, a, b);
          if (gain > 0) {
            gained += gain;
            onHost[h]!.push(b);
            onHost[k]!.push(a);
            for (const c of [a, b])
              for (const p of x.pairsOf[c]!) {
                refresh(x.pairA[p]!);
                refresh(x.pairB[p]!);
              }
            break;
          }
        }
      }
    }
  }
  return gained;
}

/** Swaps a and b if that gains, and returns the gain (0 if it was undone). Counts a pair between them once. */
function trySwap(s: State, a: number, b: number): number {
  const h = s.host[a]!;
  const k = s.host[b]!;
  const before = s.cost(a, h);
  s.remove(a);
  const old = before + s.cost(b, k);
  s.remove(b);
  let after = Number.POSITIVE_INFINITY;
  if (s.fits(a, k)) {
    const costA = s.cost(a, k);
    s.add(a, k);
    if (s.fits(b, h)) after = costA + s.cost(b, h);
    s.remove(a);
  }
  if (after < old - 1e-9 * Math.abs(old) - 1e-12) {
    s.add(a, k);
    s.add(b, h);
    return old - after;
  }
  s.add(b, k);
  s.add(a, h);
  return 0;
}

/**
 * Placement from the bound's priced beliefs (each agent's cost per zone with its share of its calls, at the
 * capacity prices): agents whose best zone beats their second best by the most go first, each to the host of
 * the cheapest zone that still fits. Once a neighbour is placed, the call's real cost to where it went replaces
 * the call's share in the belief, so the two ends of a call agree on where they meet.
 */
export function fromBeliefs(
  x: Instance,
  belief: Float64Array,
  shares: ArrayLike<number>,
  chains = false,
): State {
  const { Z } = x;
  const s = new State(x);
  const regret = new Float64Array(x.A);
  for (let a = 0; a < x.A; a++) {
    let b1 = Number.POSITIVE_INFINITY;
    let b2 = Number.POSITIVE_INFINITY;
    for (let z = 0; z < Z; z++) {
      const v = belief[a * Z + z]!;
      if (v < b1) {
        b2 = b1;
        b1 = v;
      } else if (v < b2) b2 = v;
    }
    regret[a] = b2 === Number.POSITIVE_INFINITY ? Number.MAX_VALUE : b2 - b1;
  }
  // A replicated endpoint's agents go together, when its surest agent would, busiest first: a trickle of
  // traffic placed early would open a replica where the endpoint's main traffic does not want one.
  const key = Float64Array.from(regret);
  const busy = new Float64Array(x.A);
  for (let e = 0; e < x.E; e++) {
    const agents = x.agentsOf[e]!;
    if (agents.length < 2) continue;
    let surest = 0;
    for (const a of agents) {
      surest = Math.max(surest, regret[a]!);
      for (let z = 0; z < Z; z++) busy[a] = Math.max(busy[a]!, x.load[a * Z + z]!);
    }
    for (const a of agents) key[a] = surest;
  }
  const order = [...Array(x.A).keys()].sort((a, b) => key[b]! - key[a]! || busy[b]! - busy[a]!);
  const score = new Float64Array(Z);
  // With `chains`, depth first along the calls from each agent in that order, so a chain is placed while its
  // first link's place is known: each next agent meets its neighbour where that went, capacity allowing.
  const seen = new Uint8Array(x.A);
  const stack: number[] = [];
  const walk = function* (): Generator<number> {
    for (const root of order) {
      if (seen[root]) continue;
      seen[root] = 1;
      stack.push(root);
      while (stack.length > 0) {
        const a = stack.pop()!;
        yield a;
        for (const p of chains ? x.pairsOf[a]! : []) {
          const n = x.pairA[p] === a ? x.pairB[p]! : x.pairA[p]!;
          if (!seen[n] && x.agentsOf[x.agentEndpoint[n]!]!.length === 1) {
            seen[n] = 1;
            stack.push(n);
          }
        }
      }
    }
  };
  for (const a of walk()) {
    for (let z = 0; z < Z; z++) score[z] = belief[a * Z + z]!;
    for (const p of x.pairsOf[a]!) {
      const caller = x.pairA[p] === a;
      const hn = s.host[caller ? x.pairB[p]! : x.pairA[p]!]!;
      if (hn < 0) continue;
      const zn = x.hostZone[hn]!;
      const side = (2 * p + (caller ? 0 : 1)) * Z;
      for (let z = 0; z < Z; z++)
        score[z] =
          score[z]! + (caller ? pairCost(x, p, z, zn) : pairCost(x, p, zn, z)) - (shares[side + z] ?? 0);
    }
    let best = -1;
    let bestCost = Number.POSITIVE_INFINITY;
    for (let h = 0; h < x.H; h++) {
      const c = score[x.hostZone[h]!]! + s.migration(a, h);
      if (c < bestCost && s.fits(a, h)) {
        best = h;
        bestCost = c;
      }
    }
    if (best >= 0) s.add(a, best);
  }
  const out = greedy(x, s.host);
  repair(out);
  return out;
}

/**
 * Places agents left over by a greedy pass (no host had room) by evicting smaller agents from a host that could
 * take them, cheapest host first, and re-placing the evicted ones where they fit best; every agent evicted is
 * smaller than the one it makes room for, so the chain ends. Leaves agents unplaced only if that fails.
 */
export function repair(s: State, rounds = 4 * s.x.A): void {
  const x = s.x;
  const scratch = new Float64Array(x.Z);
  const queue = s.unplaced();
  const loadOf = (a: number, h: number) => x.load[a * x.Z + x.hostZone[h]!]!;
  for (let round = 0; round < rounds && queue.length > 0; round++) {
    const a = queue.shift()!;
    const h = cheapestFit(s, a, scratch);
    if (h >= 0) {
      s.add(a, h);
      continue;
    }
    const e = x.agentEndpoint[a]!;
    let target = -1;
    let targetCost = Number.POSITIVE_INFINITY;
    let victims: number[] = [];
    for (let k = 0; k < x.H; k++) {
      if (!agentAllowed(x, a, k)) continue;
      const newReplica = s.count[e * x.H + k] === 0;
      if (newReplica && s.replicas[e]! >= x.maxReplicas[e]!) continue;
      const need = loadOf(a, k) - s.cpu[k]!;
      const needMem = newReplica ? x.memory[e]! - s.mem[k]! : 0;
      // Evict single-host agents: the smallest one that makes room alone, else the biggest first. Only agents
      // smaller than a go, unless a joins a replica its endpoint already runs there (a tiny share of traffic).
      const here: number[] = [];
      for (let b = 0; b < x.A; b++)
        if (
          s.host[b] === k &&
          x.agentsOf[x.agentEndpoint[b]!]!.length === 1 &&
          (!newReplica || loadOf(b, k) < loadOf(a, k))
        )
          here.push(b);
      here.sort((p, q) => loadOf(q, k) - loadOf(p, k));
      const alone = here.filter((b) => loadOf(b, k) >= need && x.memory[x.agentEndpoint[b]!]! >= needMem);
      let freed = 0;
      let freedMem = 0;
      const chosen: number[] = [];
      if (alone.length > 0) {
        const b = alone[alone.length - 1]!;
        chosen.push(b);
        freed = loadOf(b, k);
        freedMem = x.memory[x.agentEndpoint[b]!]!;
      }
      for (const b of here) {
        if (freed >= need && freedMem >= needMem) break;
        chosen.push(b);
        freed += loadOf(b, k);
        freedMem += x.memory[x.agentEndpoint[b]!]!;
      }
      if (freed < need || freedMem < needMem) continue;
      const c = s.cost(a, k) + chosen.length * 1e-9;
      if (c < targetCost) {
        target = k;
        targetCost = c;
        victims = chosen;
      }
    }
    if (target < 0) continue;
    for (const b of victims) s.remove(b);
    if (!s.fits(a, target)) {
      for (const b of victims) s.add(b, target);
      continue;
    }
    s.add(a, target);
    queue.push(...victims);
  }
}
