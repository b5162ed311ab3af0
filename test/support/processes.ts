// End-to-end tests start real `roam` processes through the same code `roam up` uses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** Writes `value` as JSON to a fresh temporary file; the file is removed when the test file's hooks end. */
export function tempJson(name: string, value: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'roam-test-'));
  tempDirs.push(dir);
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(value));
  return file;
}

const tempDirs: string[] = [];

/** Removes the files tempJson() wrote. */
export function removeTempFiles(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
