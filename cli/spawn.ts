// Starts `roam` child processes (for `roam up` and for end-to-end tests) and stops them. Each prints a JSON
// line {"event":"listening","address":...} when ready, so callers can bind port 0 and learn the address.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { moduleUrl } from '../core/paths.ts';
import { SIDECAR_NODE_FLAGS } from '../proxy/node-flags.ts';

const ROAM = moduleUrl('bin/roam.ts').pathname;

/** How a process ended: an exit code, or the signal that killed it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RoamProcess {
  child: ChildProcess;
  /** The whole "listening" line the process printed (admin address, ids, ...). */
  info: Record<string, unknown>;
  /** "127.0.0.1:PORT" */
  address: string;
  url: string;
  stderr: () => string;
  /** Settles once the process has ended and its output has been read to the end. */
  exited: Promise<Exit>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A process that ended, or printed no listening line in time, before it was ready. */
export class NotStarted extends Error {
  /** As `exitReason` words it, or "printed no listening line within 20 s". */
  readonly reason: string;
  readonly stderr: string;
  constructor(what: string, reason: string, stderr: string) {
    super(`${what} ${reason}:\n${stderr}`);
    this.name = 'NotStarted';
    this.reason = reason;
    this.stderr = stderr;
  }
}

export interface StartOptions {
  /** How long the process may take to print its listening line (default: 20 s). */
  readyTimeoutMs?: number;
  /** Flags for Node itself, before the script. */
  node?: string[];
}

/** How long a process that missed its start has to stop on SIGTERM (`roam up` stops its own) till SIGKILL. */
const KILL_AFTER_MS = 5000;

const running = new Set<RoamProcess>();

export function startRoam(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  options: StartOptions = {},
): Promise<RoamProcess> {
  // A sidecar runs with the V8 flags chosen for it, wherever it is started from.
  const node = args[0] === 'proxy' ? SIDECAR_NODE_FLAGS : [];
  return startScript(ROAM, args, env, { ...options, node });
}

/** Starts a Node script of this project (`roam`, or e.g. the sample legacy service) that prints the line. */
export async function startScript(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  { readyTimeoutMs = 20_000, node = [] }: StartOptions = {},
): Promise<RoamProcess> {
  const child = spawn(process.execPath, [...node, script, ...args], {
    env: { ...process.env, ...env },
    // An IPC channel the child watches (cli/lifecycle.ts): it closes when this process dies in any way, and
    // the child then stops, so a killed `roam up` leaves no mesh behind.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  // 'close' rather than 'exit': it comes after the last of stderr, which says why a process died.
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
  });
  const what = `roam ${args.join(' ')}`;
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => {
      // A process that never got ready must not stay behind holding its port.
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS).unref();
      reject(new NotStarted(what, `printed no listening line within ${readyTimeoutMs / 1000} s`, err));
    }, readyTimeoutMs);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new NotStarted(what, exitReason(exit, err), err));
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
    exited,
    async stop(signal = 'SIGTERM') {
      running.delete(proc);
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return (await exited).code;
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

// What Node prints first for an uncaught error ("TypeError [ERR_X]: ...", "Error: read ECONNRESET"), and
// V8's own fatal errors; stack frames are indented, and the nodes' JSON log lines open with "{".
const ERROR_LINE = /^(?:(?:[A-Za-z_$][\w$]*)?(?:Error|Exception)\b|FATAL ERROR\b)/;

/** The last 30 lines of stderr worth reading: not blank, not Node's closing version banner. */
function lastLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !/^Node\.js v\d/.test(l))
    .slice(-30);
}

/**
 * Why a process ended, in one line: "exit code 1" or "signal SIGKILL", and the error it printed last if any.
 * One that exited with a code but printed no error line gets its last line (roam's CLI prints its failure
 * there); one killed by a signal gets none, as what it printed before says nothing about the signal.
 */
export function exitReason({ code, signal }: Exit, stderr: string): string {
  const how = signal ? `signal ${signal}` : `exit code ${code}`;
  const lines = lastLines(stderr);
  const detail = lines.findLast((l) => ERROR_LINE.test(l)) ?? (signal ? undefined : lines.at(-1));
  return detail ? `${how}: ${detail}` : how;
}

/** The stderr lines that show why a process ended: its last error and its stack, or else its last lines. */
export function stderrExcerpt(stderr: string, size = 8): string[] {
  const lines = lastLines(stderr);
  const at = lines.findLastIndex((l) => ERROR_LINE.test(l));
  return at === -1 ? lines.slice(-size) : lines.slice(at, at + size);
}

/** Stops every process started here and not stopped yet (killed, unless asked for a gentler signal). */
export async function stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(signal)));
}
