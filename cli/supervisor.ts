// Keeps the processes of a local mesh running: one that dies is started again with the same arguments (so on
// the same address, which the rest of the mesh knows it by), after a back-off while it keeps dying, and why
// it died is logged; a process in a crash loop is given up on. A deliberate stop restarts nothing.
import { exitReason, NotStarted, type RoamProcess, stderrExcerpt } from './spawn.ts';

export interface RestartPolicy {
  /** Wait before the first restart; it doubles with every death that follows a short run. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** A run this long counts as healthy: the next death waits `initialDelayMs` again and counts from 1. */
  healthyAfterMs: number;
  /** Deaths after short runs (a failed start counts) that are restarted; the next one is given up on. */
  maxRestarts: number;
}

/**
 * 100 ms doubling to a 5 s cap. A ninth death in a row, none after 30 s up, is a crash loop (about 16 s of
 * waiting and eight starts went by): what kills the process is not going away on its own.
 */
export const DEFAULT_RESTART_POLICY: RestartPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 5000,
  healthyAfterMs: 30_000,
  maxRestarts: 8,
};

/** The wait before restart number `deaths` of a run of short-lived deaths (1 for the first). */
function restartDelay(policy: RestartPolicy, deaths: number): number {
  return Math.min(policy.initialDelayMs * 2 ** (deaths - 1), policy.maxDelayMs);
}

/** A process that kept dying and is not restarted any more. */
export interface GaveUp {
  node: string;
  /** Why it died the last time. */
  reason: string;
  /** Deaths in a row, each before it had run `healthyAfterMs`. */
  deaths: number;
  /** Restarts that got it running again, since it was first started. */
  restarts: number;
}

interface Supervised {
  name: string;
  start: () => Promise<RoamProcess>;
  current: RoamProcess;
  /** Deaths since the last healthy run. */
  deaths: number;
  restarts: number;
  retry?: NodeJS.Timeout;
  /** A restart under way, so a stop can wait for it and stop what it started. */
  starting?: Promise<void>;
}

export type SupervisorLog = (event: Record<string, unknown>) => void;

export class Supervisor {
  private readonly nodes = new Map<string, Supervised>();
  private readonly policy: RestartPolicy;
  private readonly log: SupervisorLog;
  private stopping = false;
  private giveUp!: (failure: GaveUp) => void;
  /** Settles when the first process is given up on; never, while all keep running. */
  readonly failed = new Promise<GaveUp>((resolve) => {
    this.giveUp = resolve;
  });

  constructor(log: SupervisorLog, policy: RestartPolicy = DEFAULT_RESTART_POLICY) {
    this.log = log;
    this.policy = policy;
  }

  /** Starts a process and keeps it running; `start` is called again, as it is, for every restart. */
  async add(name: string, start: () => Promise<RoamProcess>): Promise<RoamProcess> {
    if (this.nodes.has(name)) throw new Error(`supervisor: "${name}" is already supervised`);
    if (this.stopping) throw new Error(`supervisor: stopping, "${name}" is not started`);
    const proc = await start();
    if (this.stopping) {
      await proc.stop('SIGKILL');
      throw new Error(`supervisor: stopping, "${name}" is not kept`);
    }
    const node: Supervised = { name, start, current: proc, deaths: 0, restarts: 0 };
    this.nodes.set(name, node);
    this.watch(node);
    return proc;
  }

  /** The current process id of every supervised process, by name. */
  pids(): Record<string, number> {
    return Object.fromEntries([...this.nodes.values()].map((n) => [n.name, n.current.child.pid!]));
  }

  /** Stops every process, and any restart under way or pending; nothing is restarted afterwards. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.stopping = true;
    const nodes = [...this.nodes.values()];
    for (const n of nodes) clearTimeout(n.retry);
    await Promise.all(nodes.map((n) => n.starting));
    await Promise.all(nodes.map((n) => n.current.stop(signal)));
  }

  private watch(node: Supervised): void {
    const proc = node.current;
    const healthy = setTimeout(() => {
      node.deaths = 0;
    }, this.policy.healthyAfterMs);
    healthy.unref();
    void proc.exited.then((exit) => {
      clearTimeout(healthy);
      if (this.stopping) return;
      this.died(node, exitReason(exit, proc.stderr()), proc.stderr(), proc.child.pid);
    });
  }

  private died(node: Supervised, reason: string, stderr: string, pid: number | undefined): void {
    node.deaths++;
    const stderrLines = stderrExcerpt(stderr);
    if (node.deaths > this.policy.maxRestarts) {
      const failure = { node: node.name, reason, deaths: node.deaths, restarts: node.restarts };
      this.log({ event: 'gave-up', ...failure, pid, stderr: stderrLines });
      this.giveUp(failure);
      return;
    }
    const delay = restartDelay(this.policy, node.deaths);
    this.log({ event: 'exited', node: node.name, pid, reason, stderr: stderrLines, restartInMs: delay });
    node.retry = setTimeout(() => this.restart(node, reason), delay);
  }

  private restart(node: Supervised, reason: string): void {
    node.retry = undefined;
    node.starting = node.start().then(
      async (proc) => {
        node.starting = undefined;
        if (this.stopping) {
          await proc.stop('SIGKILL');
          return;
        }
        node.current = proc;
        node.restarts++;
        this.log({
          event: 'restarted',
          node: node.name,
          pid: proc.child.pid,
          reason,
          restarts: node.restarts,
        });
        this.watch(node);
      },
      (err: Error) => {
        node.starting = undefined;
        if (this.stopping) return;
        const failed = err instanceof NotStarted ? err : undefined;
        this.died(node, `did not start: ${failed?.reason ?? err.message}`, failed?.stderr ?? '', undefined);
      },
    );
  }
}
