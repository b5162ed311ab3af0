// What the load benchmarks share: processes pinned to a core that announce themselves with a JSON
// {"event":"listening"} line, and the CPU a process used, read from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Starts `args` pinned to `core` (added to `children`, for the caller to kill) and waits until it listens. */
export async function startPinned(
  children: ChildProcess[],
  core: number,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; info: Record<string, string> }> {
  const child = spawn('taskset', ['-c', String(core), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  for await (const line of createInterface({ input: child.stdout! })) {
    try {
      const msg = JSON.parse(line);
      if (msg.event === 'listening') return { child, info: msg };
    } catch {
      // not JSON
    }
  }
  throw new Error(`${args.join(' ')} exited before listening`);
}

/** CPU time a process used so far (user + system), in clock ticks (1/100 s). */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
