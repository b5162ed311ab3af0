// Instances that broke a backend, rebuilt from issue 16's description, for the tests that keep them fixed.
import { type PlacementProblem, syntheticProblem } from '../index.ts';

/**
 * 10 endpoints x 4 hosts (seed 5, utilisation 0.5), host memory at 1.8x the average need, every endpoint
 * currently placed: javascript-lp-solver's simplex cycles on it and runs for minutes past any time limit;
 * HiGHS solves it in well under a second.
 */
export function lpSolverCycles(): PlacementProblem {
  const p = syntheticProblem({ endpoints: 10, hosts: 4, seed: 5, utilisation: 0.5 });
  const need = p.endpoints.reduce((sum, e) => sum + e.memoryMib, 0) / p.hosts.length;
  for (const h of p.hosts) h.memoryMib = Math.round(need * 1.8);
  p.endpoints.forEach((e, i) => {
    e.current = [p.hosts[i % p.hosts.length]!.id];
  });
  return p;
}

/**
 * 16 endpoints x 4 hosts (seed 2, utilisation 0.9), host memory at 1.5x the average need: the heuristic and
 * the LP relaxation's rounding pack no placement, though one exists (HiGHS finds the optimum).
 */
export function searchPacksNothing(): PlacementProblem {
  const p = syntheticProblem({ endpoints: 16, hosts: 4, seed: 2, utilisation: 0.9 });
  const need = p.endpoints.reduce((sum, e) => sum + e.memoryMib, 0) / p.hosts.length;
  for (const h of p.hosts) h.memoryMib = Math.round(need * 1.5);
  return p;
}
