// Requests/s each endpoint serves per origin site: what clients send it, plus what its callers' requests
// cause through the call graph. Cycles are allowed while they damp (fewer than one call back per request).
import { InvalidProblemError } from './errors.ts';
import type { PlacementProblem } from './problem.ts';

/** traffic[e][o]: requests/s endpoint e serves for requests that entered the mesh at site o. */
export function trafficByOrigin(p: PlacementProblem): Float64Array[] {
  const index = new Map(p.endpoints.map((e, i) => [e.id, i]));
  const calls = p.endpoints.map((e) =>
    e.calls.filter((c) => c.perRequest > 0).map((c) => [index.get(c.to)!, c.perRequest] as const),
  );
  const traffic = p.endpoints.map((e) => Float64Array.from(e.ratePerOrigin));
  // Push each increment of traffic down its call edges until nothing is left to push: exact in as many
  // rounds as the call graph is deep, geometric on damped cycles.
  let pending = p.endpoints.map((e) => Float64Array.from(e.ratePerOrigin));
  const scale = Math.max(1e-12, ...p.endpoints.flatMap((e) => e.ratePerOrigin));
  for (let round = 0; ; round++) {
    const next = p.endpoints.map(() => new Float64Array(p.sites.length));
    let moved = 0;
    pending.forEach((inc, e) => {
      for (const [f, per] of calls[e]!) {
        const row = next[f]!;
        for (let o = 0; o < inc.length; o++) {
          const add = inc[o]! * per;
          row[o] = row[o]! + add;
          moved = Math.max(moved, add);
        }
      }
    });
    if (moved <= 1e-12 * scale) return traffic;
    if (round > p.endpoints.length + 10_000)
      throw new InvalidProblemError(
        'the call graph has a cycle that does not damp (traffic grows without bound)',
      );
    next.forEach((row, f) => {
      const t = traffic[f]!;
      for (let o = 0; o < row.length; o++) t[o] = t[o]! + row[o]!;
    });
    pending = next;
  }
}
