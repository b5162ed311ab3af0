// Requests/s each endpoint serves per origin site: what clients send it, plus what its callers' requests
// cause through the call graph. Cycles are allowed while they damp (fewer than one call back per request).
import { InvalidProblemError } from './errors.ts';
import type { PlacementProblem } from './problem.ts';

/** traffic[e][o]: requests/s endpoint e serves for requests that entered the mesh at site o. */
export function trafficByOrigin(p: PlacementProblem): Float64Array[] {
  const E = p.endpoints.length;
  const O = p.sites.length;
  const index = new Map(p.endpoints.map((e, i) => [e.id, i]));
  const calls = p.endpoints.map((e) =>
    e.calls.filter((c) => c.perRequest > 0).map((c) => [index.get(c.to)!, c.perRequest] as const),
  );
  const traffic = p.endpoints.map((e) => Float64Array.from(e.ratePerOrigin));
  // Push each increment of traffic down its call edges until nothing is left to push: exact in as many
  // rounds as the call graph is deep, geometric on damped cycles. Flat buffers, swapped each round: this runs
  // on every solve, at up to 2000 endpoints x 50 sites.
  let pending = new Float64Array(E * O);
  let next = new Float64Array(E * O);
  let scale = 1e-12;
  for (let e = 0; e < E; e++)
    for (let o = 0; o < O; o++) {
      const r = traffic[e]![o]!;
      pending[e * O + o] = r;
      if (r > scale) scale = r;
    }
  for (let round = 0; ; round++) {
    let moved = 0;
    for (let e = 0; e < E; e++)
      for (const [f, per] of calls[e]!)
        for (let o = 0; o < O; o++) {
          const add = pending[e * O + o]! * per;
          next[f * O + o] = next[f * O + o]! + add;
          if (add > moved) moved = add;
        }
    if (moved <= 1e-12 * scale) return traffic;
    if (round > E + 10_000)
      throw new InvalidProblemError(
        'the call graph has a cycle that does not damp (traffic grows without bound)',
      );
    for (let f = 0; f < E; f++) {
      const t = traffic[f]!;
      for (let o = 0; o < O; o++) t[o] = t[o]! + next[f * O + o]!;
    }
    [pending, next] = [next, pending];
    next.fill(0);
  }
}
