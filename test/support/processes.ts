// End-to-end tests start real `roam` processes through the same code `roam up` uses.
import { type RoamProcess, startRoam } from '../../cli/spawn.ts';

export { type RoamProcess, startRoam, stopAll } from '../../cli/spawn.ts';

/** A standalone host of `tier` on a free loopback port, with `stores` ("NAME=SPEC") and any other flags. */
export function startHost(tier: string, stores: string[] = [], ...flags: string[]): Promise<RoamProcess> {
  return startRoam([
    'host',
    '--tier',
    tier,
    '--listen',
    '127.0.0.1:0',
    ...stores.flatMap((s) => ['--store', s]),
    ...flags,
  ]);
}
