// Turns a backend's column values into a feasible assignment. Exact answers are not trusted as they are (solver
// tolerances can leave an x at 0.9999 or a capacity a hair over), and relaxed ones are fractional: agents the
// solution is surest of go first, each to its highest-valued host that still fits; the greedy places the rest.
import type { Instance } from './compile.ts';
import type { Milp } from './formulation.ts';
import { greedy } from './heuristic.ts';
import { State } from './state.ts';

export function round(x: Instance, m: Milp, values: Float64Array): State {
  const prefs = Array.from({ length: x.A }, (_, a) => {
    const hs: [number, number][] = [];
    for (let h = 0; h < x.H; h++) {
      const c = m.xCol[a * x.H + h]!;
      if (c >= 0 && values[c]! > 1e-6) hs.push([h, values[c]!]);
    }
    return hs.sort((p, q) => q[1] - p[1]);
  });
  const order = [...prefs.keys()].sort((a, b) => (prefs[b]![0]?.[1] ?? 0) - (prefs[a]![0]?.[1] ?? 0));
  const s = new State(x);
  for (const a of order) {
    const fit = prefs[a]!.find(([h]) => s.fits(a, h));
    if (fit) s.add(a, fit[0]);
  }
  return greedy(x, s.host);
}
