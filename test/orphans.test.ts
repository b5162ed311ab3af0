// A process `roam up` started stops when `roam up` is gone, however it went (issue 18, point 6): a parent
// killed with SIGKILL sends its children no signal, but the IPC channel each child watches closes.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it, vi } from 'vitest';
import { ROOT } from '../core/paths.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('children of a killed parent', () => {
  it('a proxy and the sample service started through cli/spawn.ts exit when their parent is SIGKILLed', async () => {
    // The parent starts both the way `roam up` does, prints their pids, and waits.
    const parent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { startRoam, startScript } from '${ROOT}cli/spawn.ts';
         const proxy = await startRoam(['proxy', '--listen', '127.0.0.1:0']);
         const legacy = await startScript('${ROOT}examples/legacy-service/server.ts', ['--listen', '127.0.0.1:0']);
         console.log(JSON.stringify([proxy.child.pid, legacy.child.pid]));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [line] = (await once(createInterface({ input: parent.stdout! }), 'line')) as [string];
    const pids = JSON.parse(line) as number[];
    expect(pids.every(alive)).toBe(true);
    parent.kill('SIGKILL');
    await vi.waitFor(() => expect(pids.filter(alive)).toEqual([]), { timeout: 15_000, interval: 100 });
  });
});
