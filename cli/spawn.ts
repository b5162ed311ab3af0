// Starts `roam` child processes (for `roam up` and for end-to-end tests) and stops them. Each prints a JSON
// line {"event":"listening","address":...} when ready, so callers can bind port 0 and learn the address.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const ROAM = new URL('../bin/roam.ts', import.meta.url).pathname;

export interface RoamProcess {
  child: ChildProcess;
  /** The whole "listening" line the process printed (admin address, ids, ...). */
  info: Record<string, unknown>;
  /** "127.0.0.1:PORT" */
  address: string;
  url: string;
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<RoamProcess>();

export function startRoam(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RoamProcess> {
  return startScript(ROAM, args, env);
}

/** Starts a Node script of this project (`roam`, or e.g. the sample legacy service) that prints the line. */
export async function startScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<RoamProcess> {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`roam ${args.join(' ')} did not start:\n${err}`)),
      20_000,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`roam ${args.join(' ')} exited with ${code}:\n${err}`));
    });
    lines.on('line', (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; address?: string };
        if (msg.event === 'listening' && msg.address) {
          clearTimeout(timer);
          resolve(msg);
        }
      } catch {
        // not a JSON line
      }
    });
  });
  const address = info.address as string;
  const proc: RoamProcess = {
    child,
    info,
    address,
    url: `http://${address}`,
    stderr: () => err,
    async stop(signal = 'SIGTERM') {
      running.delete(proc);
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
  running.add(proc);
  return proc;
}

/** Stops every process started here and not stopped yet (killed, unless asked for a gentler signal). */
export async function stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(signal)));
}
