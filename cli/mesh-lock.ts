// One `roam up` per data directory: it keeps its pid in DIR/up.pid while it runs, and a second one started
// with the same directory says what to do instead of failing on the first port the first one holds. A pid
// file whose process is gone (or is no longer a roam process: pids are reused) is stale and taken over.
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './args.ts';

function isRoam(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // Where /proc is available, a live pid must still be a roam process to count.
  if (!existsSync('/proc')) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('roam');
  } catch {
    return false;
  }
}

/** Claims `dataDir` for this process; throws UsageError naming the running mesh. Returns the release. */
export function claimDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'up.pid');
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRoam(pid)) {
      throw new UsageError(
        `a mesh from an earlier \`roam up\` (pid ${pid}) is still running with data directory ${dataDir}: ` +
          `stop it (Ctrl-C in its terminal, or kill ${pid}), or start this one with another --data-dir and --base-port`,
      );
    }
  }
  writeFileSync(file, `${process.pid}\n`);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // Already gone: nothing to release.
    }
  };
  process.once('exit', release);
  return release;
}
