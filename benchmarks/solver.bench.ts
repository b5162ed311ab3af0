// Solver figures: solve time and gap to the best proven bound at (endpoints x hosts) = 10x4 ... 2000x50, per
// backend, on seeded synthetic instances with call-graph terms; and a re-solve after one endpoint's profile
// moves, warm-started from the previous placement.
// Run: npm run bench -- solver [--quick]
import { type Backend, solve, syntheticProblem } from '../solver/index.ts';

const quick = process.argv.includes('--quick');
const sizes: [number, number][] = [
  [10, 4],
  [50, 4],
  [200, 10],
  [1000, 20],
  [2000, 50],
];
const backends: Backend[] = ['heuristic', 'lp-solver', 'highs', 'highs-relaxation'];
/** Exact backends past these sizes would only report their time limit. */
const tooBig: Record<string, number> = { 'lp-solver': 200, highs: 2000 };

const rows: Record<string, string>[] = [];
for (const [e, h] of sizes) {
  const problem = syntheticProblem({ endpoints: e, hosts: h, seed: 42 });
  for (const backend of backends) {
    if (e * h > (tooBig[backend] ?? Number.POSITIVE_INFINITY)) continue;
    const s = await solve(problem, { backend, timeLimitMs: quick ? 1000 : 5000 });
    rows.push({
      size: `${e}x${h}`,
      backend,
      'time (ms)': s.timeMs.toFixed(0),
      objective: s.objective.toFixed(0),
      bound: s.bound.toFixed(0),
      'gap %': (s.gap * 100).toFixed(2),
    });
  }
  // Re-solve after a small change: one endpoint's traffic moves to another site.
  const first = await solve(problem, { timeLimitMs: quick ? 1000 : 5000 });
  const moved = structuredClone(problem);
  const ep = moved.endpoints[0]!;
  ep.ratePerSite = [...ep.ratePerSite.slice(1), ep.ratePerSite[0]!];
  const again = await solve(moved, { backend: 'heuristic', warmStart: first.placement, timeLimitMs: 100 });
  rows.push({
    size: `${e}x${h}`,
    backend: 're-solve (warm, heuristic)',
    'time (ms)': again.timeMs.toFixed(0),
    objective: again.objective.toFixed(0),
    bound: again.bound.toFixed(0),
    'gap %': (again.gap * 100).toFixed(2),
  });
}
console.log('\nSolver (seeded synthetic instances with call-graph terms)');
console.table(rows);
