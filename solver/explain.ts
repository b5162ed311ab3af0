// What stands in the way of any placement, for callers who want to know before (or without) solving: the
// same sentences an InfeasibleError carries; empty when nothing obviously does.
import { compile } from './compile.ts';
import { obstacles } from './infeasible.ts';
import type { PlacementProblem } from './problem.ts';
import { validate } from './validate.ts';

export function explainInfeasible(p: PlacementProblem): string[] {
  validate(p);
  return obstacles(compile(p));
}
