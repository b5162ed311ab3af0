// Tests that need a program from outside npm (a server, a browser, a tool from Debian's packages) ask here.
// On a machine without it they skip, with one line naming it and how to install it; under CI=true, where
// .ci/run installs it (.ci/packages), they run, and its absence is a failure.
import { spawnSync } from 'node:child_process';

export const ci = process.env.CI === 'true';

/** True when `command` is on the PATH. */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/** Whether tests needing `what` should run; says why not when they will not. */
export function needs(what: string, present: boolean, install: string): boolean {
  if (present || ci) return true;
  console.warn(`skipped: tests that need ${what}, which is not installed (${install})`);
  return false;
}
