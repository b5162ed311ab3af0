// One `roam up` per data directory (issue 18, point 6): a second one says which mesh is running and what to
// do; a pid file left by a mesh that is gone is taken over.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimDataDir } from '../cli/mesh-lock.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('roam up data directory', () => {
  it('refuses a data directory a running mesh holds, and takes over one whose mesh is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roam-lock-'));
    dirs.push(dir);
    // Stands in for a running `roam up`: a live process whose command line says roam.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'roam-up-stand-in'], {
      stdio: 'ignore',
    });
    await once(other, 'spawn');
    writeFileSync(join(dir, 'up.pid'), `${other.pid}\n`);
    expect(() => claimDataDir(dir)).toThrow(
      new RegExp(`roam up\` \\(pid ${other.pid}\\) is still running .*kill ${other.pid}.*--data-dir`),
    );
    other.kill('SIGKILL');
    await once(other, 'exit');
    const release = claimDataDir(dir);
    expect(readFileSync(join(dir, 'up.pid'), 'utf8').trim()).toBe(String(process.pid));
    release();
    expect(() => readFileSync(join(dir, 'up.pid'))).toThrow();
  });
});
