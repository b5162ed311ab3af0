// The fast path: greedy by regret, then local search (agent moves, replica moves, swaps) with the call terms
// evaluated against where the neighbours are. It warm-starts the exact backends and alone handles instances
// too large to solve exactly within the budget. Pure: the clock is a parameter.
import { agentAllowed, type Instance } from './compile.ts';
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
  const key = byLoad ? Float64Array.from({ length: x.A }, (_, a) => maxLoad(a)) : regrets(x);
  const order = [...Array(x.A).keys()].filter((a) => s.host[a]! < 0).sort((a, b) => key[b]! - key[a]!);
  const scratch = new Float64Array(x.Z);
  for (const a of order) {
    const h = cheapestFit(s, a, scratch);
    if (h >= 0) s.add(a, h);
  }
  return s;
}

/**
 * Local search until nothing improves or the deadline passes. Each pass moves every agent to its cheapest
 * host if that gains; replicated endpoints also try moving a whole replica; when a pass gains nothing, swaps
 * of two agents get past full hosts. Returns the total gain.
 */
export function improve(s: State, now: () => number, deadline: number): number {
  const x = s.x;
  const scratch = new Float64Array(x.Z);
  let gained = 0;
  for (;;) {
    let pass = 0;
    for (let a = 0; a < x.A && now() < deadline; a++) pass += moveAgent(s, a, scratch);
    for (let e = 0; e < x.E && now() < deadline; e++) if (x.maxReplicas[e]! > 1) pass += moveReplicas(s, e);
    if (pass <= 0 && now() < deadline) pass += swaps(s, now, deadline);
    gained += pass;
    if (pass <= 0 || now() >= deadline) return gained;
  }
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
function moveReplicas(s: State, e: number): number {
  const x = s.x;
  let gained = 0;
  const hosts = [...new Set(x.agentsOf[e]!.map((a) => s.host[a]!))];
  for (const from of hosts) {
    const group = x.agentsOf[e]!.filter((a) => s.host[a] === from);
    let before = 0;
    for (const a of group) before += s.cost(a, from);
    for (const a of group) s.remove(a);
    let best = from;
    let bestCost = before;
    for (let h = 0; h < x.H; h++) {
      if (h === from || s.count[e * x.H + h]! > 0) continue;
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

/** Swaps two agents of unreplicated endpoints between hosts when one would rather be where the other is. */
function swaps(s: State, now: () => number, deadline: number): number {
  const x = s.x;
  const onHost: number[][] = Array.from({ length: x.H }, () => []);
  for (let a = 0; a < x.A; a++) if (x.maxReplicas[x.agentEndpoint[a]!] === 1) onHost[s.host[a]!]!.push(a);
  let gained = 0;
  for (let a = 0; a < x.A && now() < deadline; a++) {
    if (x.maxReplicas[x.agentEndpoint[a]!]! > 1) continue;
    const h = s.host[a]!;
    const own = x.zoneCost[a * x.Z + x.hostZone[h]!]!;
    for (let k = 0; k < x.H && s.host[a] === h; k++) {
      // Only hosts a would rather be on; those it fits on already were tried by the single moves.
      if (k === h || !agentAllowed(x, a, k) || !(x.zoneCost[a * x.Z + x.hostZone[k]!]! < own)) continue;
      for (const b of onHost[k]!) {
        if (s.host[b] !== k || !agentAllowed(x, b, h)) continue;
        const gain = trySwap(s, a, b);
        if (gain > 0) {
          gained += gain;
          onHost[h]!.push(b);
          onHost[k]!.push(a);
          break;
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
