// What `roam up` does when one of its processes dies, on small real processes: it is restarted on the same
// address and the log says what it died of; a crash loop is given up on; a deliberate stop restarts nothing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { exitReason, startScript, stopAll } from '../cli/spawn.ts';
import { DEFAULT_RESTART_POLICY, type RestartPolicy, Supervisor } from '../cli/supervisor.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-supervision-'));

// PORT MODE RUNS_FILE. crash-once: the first run dies of an unhandled ECONNRESET (the crash of issue 14) once
// it is listening, later runs stay up; refuse-after-first: later runs fail before listening, as roam's CLI
// does; crash-on-request: every request kills it with an uncaught TypeError.
const FIXTURE = join(dir, 'fixture.mjs');
writeFileSync(
  FIXTURE,
  `import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Socket } from 'node:net';
const [port, mode, runsFile] = process.argv.slice(2);
const run = (existsSync(runsFile) ? Number(readFileSync(runsFile, 'utf8')) : 0) + 1;
writeFileSync(runsFile, String(run));
if (mode === 'refuse-after-first' && run > 1) {
  console.error('roam fixture: port ' + port + ' is taken (ROAM_ERR_TEST)');
  process.exit(1);
}
const server = createServer((req, res) => {
  if (mode === 'crash-on-request') throw new TypeError('boom');
  res.end('up');
});
server.listen(Number(port), '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', address: '127.0.0.1:' + port }));
  if (mode !== 'crash-on-request' && run === 1) {
    const error = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    new Socket().emit('error', error);
  }
});
`,
);

let supervisor: Supervisor | undefined;
let files = 0;

afterEach(async () => {
  await supervisor?.stop('SIGKILL');
  await stopAll();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

type Event = Record<string, unknown>;

/** A supervisor of the fixture in `mode` on a fixed port, with the events it logs. */
async function supervise(mode: string, policy: Partial<RestartPolicy>) {
  const events: Event[] = [];
  supervisor = new Supervisor((e) => events.push(e), { ...DEFAULT_RESTART_POLICY, ...policy });
  const port = await freePort();
  const runsFile = join(dir, `runs-${++files}`);
  const first = await supervisor.add('fixture', () => startScript(FIXTURE, [String(port), mode, runsFile]));
  return {
    events,
    first,
    url: `http://127.0.0.1:${port}/`,
    runs: () => Number(readFileSync(runsFile, 'utf8')),
    of: (name: string) => events.filter((e) => e.event === name),
  };
}

/** Waits for the `n`th event named `name`. */
function nth(events: Event[], name: string, n = 1): Promise<Event> {
  return vi.waitFor(
    () => {
      const found = events.filter((e) => e.event === name)[n - 1];
      if (!found) throw new Error(`no "${name}" event #${n} yet: ${JSON.stringify(events)}`);
      return found;
    },
    { timeout: 15_000, interval: 20 },
  );
}

async function crash(url: string): Promise<void> {
  await expect(request(url)).rejects.toThrow();
}

describe('Supervisor', () => {
  it('restarts a process that died of an uncaught error, on the same address, and logs why', async () => {
    const { events, first, url, of } = await supervise('crash-once', { initialDelayMs: 10 });
    const restarted = await nth(events, 'restarted');
    const [exited] = of('exited');
    const reason = 'exit code 1: Error: read ECONNRESET';
    expect(exited).toMatchObject({ node: 'fixture', pid: first.child.pid, reason, restartInMs: 10 });
    const stderr = exited!.stderr as string[];
    expect(stderr[0]).toBe('Error: read ECONNRESET');
    expect(stderr[1]).toMatch(/^ {4}at /);
    expect(restarted).toMatchObject({ node: 'fixture', reason, restarts: 1 });
    expect(restarted.pid).not.toBe(first.child.pid);
    expect(supervisor!.pids()).toEqual({ fixture: restarted.pid });
    const res = await request(url);
    expect(await res.body.text()).toBe('up');
  });

  it('backs off while a process keeps dying, then gives up on it and says what it died of', async () => {
    const { events, runs, of } = await supervise('refuse-after-first', {
      initialDelayMs: 10,
      maxDelayMs: 25,
      maxRestarts: 3,
    });
    const failed = await supervisor!.failed;
    expect(failed).toMatchObject({ node: 'fixture', deaths: 4, restarts: 0 });
    expect(failed.reason).toMatch(
      /^did not start: exit code 1: roam fixture: port \d+ is taken \(ROAM_ERR_TEST\)$/,
    );
    expect(of('exited').map((e) => e.restartInMs)).toEqual([10, 20, 25]);
    expect(of('exited').map((e) => e.reason)).toEqual([
      'exit code 1: Error: read ECONNRESET',
      failed.reason,
      failed.reason,
    ]);
    expect(of('gave-up')).toEqual([
      expect.objectContaining({ ...failed, stderr: [expect.stringMatching(/is taken \(ROAM_ERR_TEST\)$/)] }),
    ]);
    expect(of('restarted')).toEqual([]);
    expect(runs()).toBe(4);
    expect(events.at(-1)!.event).toBe('gave-up');
  });

  it('restarts nothing once stopped, not even a process waiting for its restart', async () => {
    const { events, url, runs, of } = await supervise('crash-on-request', {
      initialDelayMs: 60_000,
      maxDelayMs: 60_000,
    });
    await crash(url);
    const exited = await nth(events, 'exited');
    expect(exited).toMatchObject({ reason: 'exit code 1: TypeError: boom', restartInMs: 60_000 });
    await supervisor!.stop();
    expect(runs()).toBe(1);
    expect(of('restarted')).toEqual([]);
  });

  it('counts deaths again from the first once a process has run long enough to be healthy', async () => {
    const { events, url, of } = await supervise('crash-on-request', {
      initialDelayMs: 10,
      healthyAfterMs: 0,
      maxRestarts: 1,
    });
    for (let n = 1; n <= 3; n++) {
      await crash(url);
      expect(await nth(events, 'restarted', n)).toMatchObject({ restarts: n });
    }
    expect(of('exited').map((e) => e.restartInMs)).toEqual([10, 10, 10]);
    expect(of('gave-up')).toEqual([]);
  });
});

describe('exitReason', () => {
  it('names a signal alone: what the process logged before says nothing about it', () => {
    const logged = '{"event":"subscribed","node":"edge-proxy"}\n';
    expect(exitReason({ code: null, signal: 'SIGKILL' }, logged)).toBe('signal SIGKILL');
  });

  it("names the error a process died of, or else the last line roam's CLI printed", () => {
    const oom = [
      '<--- Last few GCs --->',
      'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
      '----- Native stack trace -----',
      ' 1: 0xb8d0a3 node::OOMErrorHandler(char const*, v8::OOMDetails const&) [node]',
    ].join('\n');
    expect(exitReason({ code: null, signal: 'SIGABRT' }, oom)).toBe(
      'signal SIGABRT: FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory',
    );
    const cli = 'roam proxy: no such store "carts" (ROAM_ERR_NOT_FOUND)\n\nNode.js v24.1.0\n';
    expect(exitReason({ code: 1, signal: null }, cli)).toBe(
      'exit code 1: roam proxy: no such store "carts" (ROAM_ERR_NOT_FOUND)',
    );
  });
});
