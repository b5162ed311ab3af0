// Solver figures: solve time and gap to the best proven bound at (endpoints x hosts) = 10x4 ... 2000x50, per
// backend, on seeded synthetic instances with call-graph terms and replicated front ends; and a re-solve after
// one endpoint's profile moves, started from the previous answer. Exact backends are capped by a time limit.
// Run: npx node benchmarks/solver.bench.ts [--quick]   (or npm run bench -- solver [--quick])
import { type Backend, type Solution, solve, syntheticProblem } from '../solver/index.ts';

const quick = process.argv.includes('--quick');
const sizes: [number, number][] = [
  [10, 4],
  [50, 4],
  [200, 10],
  [1000, 20],
  [2000, 50],
];
/** Largest endpoint count each backend is run at (past it, it only reports its time limit). */
const upTo: Record<Exclude<Backend, 'auto'>, number> = {
  'lp-solver': 50,
  highs: 200,
  'highs-relaxation': 1000,
  heuristic: 2000,
};
const exact = (b: Backend) => b === 'lp-solver' || b === 'highs';
/** Budgets in ms: the aim's 1 s for the fast strategies, more for exact solves to show what they reach. */
const budget = (b: Backend) => (exact(b) ? (quick ? 3000 : 10_000) : 1000);
/** Runs per strategy: the fast ones vary more from run to run (their search depends on the clock). */
const runs = (b: Backend) => (quick ? 1 : exact(b) ? 3 : 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** The run with the median gap: the answer a caller typically gets (times vary with the machine's load). */
const typical = (sols: Solution[]) => [...sols].sort((a, b) => a.gap - b.gap)[Math.floor(sols.length / 2)]!;
const worstGap = (sols: Solution[]) => Math.max(...sols.map((s) => s.gap));
const rows: Record<string, string>[] = [];
const fmt = (v: number) => Math.round(v).toLocaleString('en-US');

for (const [e, h] of sizes) {
  const problem = syntheticProblem({ endpoints: e, hosts: h, seed: 42 });
  const results: [string, Solution, number, number][] = [];
  for (const backend of ['auto', 'heuristic', 'lp-solver', 'highs', 'highs-relaxation'] as Backend[]) {
    if (backend !== 'auto' && e > upTo[backend]) continue;
    const sols: Solution[] = [];
    for (let r = 0; r < runs(backend); r++)
      sols.push(await solve(problem, { backend, timeLimitMs: budget(backend) }));
    const name = backend === 'auto' ? `auto (${sols[0]!.backend})` : backend;
    results.push([name, typical(sols), median(sols.map((s) => s.timeMs)), worstGap(sols)]);
  }
  // Re-solve: one endpoint's traffic shifts to the next site, starting from the auto answer.
  const previous = results[0]![1];
  const again: Solution[] = [];
  for (let k = 0; k < (quick ? 3 : 5); k++) {
    const moved = structuredClone(problem);
    const ep = moved.endpoints[(k * 37) % e]!;
    ep.ratePerOrigin = [...ep.ratePerOrigin.slice(1), ep.ratePerOrigin[0]!];
    again.push(await solve(moved, { backend: 'heuristic', previous, timeLimitMs: 100 }));
  }
  results.push([
    're-solve, one profile moved (warm)',
    typical(again),
    median(again.map((s) => s.timeMs)),
    worstGap(again),
  ]);
  const bestBound = Math.max(...results.map(([, s]) => s.bound));
  const base = results.find(([name]) => name === 'heuristic')![2];
  for (const [name, s, time, worst] of results) {
    rows.push({
      size: `${e}x${h}`,
      strategy: name,
      'time ms (median)': time.toFixed(0),
      'x heuristic': (time / base).toFixed(2),
      objective: fmt(s.objective),
      bound: fmt(s.bound),
      'gap %': (s.gap * 100).toFixed(2),
      'worst gap %': (worst * 100).toFixed(2),
      'gap to best bound %': (((s.objective - bestBound) / s.objective) * 100).toFixed(2),
      optimal: s.optimal ? 'yes' : '',
    });
  }
}
console.log(`\nSolver (seeded synthetic instances with call-graph terms${quick ? ', --quick' : ''})`);
console.table(rows);
// The same rows as a Markdown table, for docs/solver.md and the README.
const columns = Object.keys(rows[0]!);
console.log(`\n| ${columns.join(' | ')} |\n|${columns.map(() => '---|').join('')}`);
for (const row of rows) console.log(`| ${columns.map((c) => row[c]).join(' | ')} |`);
