// The control plane's solves run on a worker thread with a hard deadline (control-plane/off-thread-solver.ts):
// a solve that would spin for minutes (javascript-lp-solver cycling on a 10x4 instance) is stopped just past
// its deadline with the best placement it had found, and meanwhile the control plane's own thread answers
// every request it gets. The thread keeps the last problem and is sent only what changed: answers are the same
// as from the whole problem.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import {
  InfeasibleError,
  type PlacementProblem,
  type Solution,
  solve,
  syntheticProblem,
  violations,
} from '../../solver/index.ts';
import { lpSolverCycles } from '../../solver/test/hard-instances.ts';
import { OffThreadSolver } from '../off-thread-solver.ts';
import run from '../solver-thread.ts';

const solver = new OffThreadSolver();
afterAll(() => solver.close());

describe('solving off the event loop', () => {
  it('stops a solve that runs past its deadline, keeps its best placement, and the main thread answers meanwhile', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const problem = lpSolverCycles();
    let done = false;
    let answeredDuring = 0;
    const solving = solver.solve(problem, 3000, undefined, 'lp-solver').finally(() => {
      done = true;
    });
    while (!done) {
      const res = await request(url);
      expect(await res.body.text()).toBe('ok');
      if (!done) answeredDuring++;
    }
    const answer = await solving;
    server.close();
    expect(answeredDuring).toBeGreaterThan(0);
    expect(answer.overrunMs).toBeDefined();
    const solution = answer.solution!;
    expect(solution.optimal).toBe(false);
    expect(Number.isFinite(solution.objective)).toBe(true);
    expect(Object.keys(solution.placement).sort()).toEqual(problem.endpoints.map((e) => e.id).sort());
    expect(violations(problem, solution.placement)).toEqual([]);
  });

  it('solves with the default strategy what javascript-lp-solver cycles on', async () => {
    const problem = lpSolverCycles();
    const s = await solve(problem, { timeLimitMs: 1000 });
    expect(s.backend).toBe('highs');
    expect(violations(problem, s.placement)).toEqual([]);
    expect(Number.isFinite(s.objective)).toBe(true);
  });

  it('returns what the solver answers, and its errors with their reasons', async () => {
    const problem = syntheticProblem({ endpoints: 6, hosts: 3, seed: 3 });
    const answer = await solver.solve(problem, 1000);
    expect(answer.overrunMs).toBeUndefined();
    expect(violations(problem, answer.solution!.placement)).toEqual([]);
    for (const h of problem.hosts) h.memoryMib = 1;
    const failed = await solver.solve(problem, 1000).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(InfeasibleError);
    expect((failed as InfeasibleError).reasons.length).toBeGreaterThan(0);
  });

  it('sends the thread only what changed, and answers as if it had been sent the whole problem', async () => {
    const delta = new OffThreadSolver();
    const whole = new OffThreadSolver();
    try {
      // Converges long before its budget: the answer depends on the problem only, not on the clock.
      const budget = 10_000;
      const p1 = syntheticProblem({ endpoints: 120, hosts: 8, seed: 7 });
      const first = (await delta.solve(p1, budget, undefined, 'heuristic')).solution!;
      const previous = (s: Solution) => ({
        placement: s.placement,
        ...(s.prices ? { prices: s.prices } : {}),
      });
      // One endpoint's traffic, another's memory, and (outside the endpoints) one host's capacity.
      const p2 = structuredClone(p1);
      p2.endpoints[3]!.ratePerOrigin = p2.endpoints[3]!.ratePerOrigin.map((r) => r * 3 + 5);
      p2.endpoints[40]!.memoryMib += 64;
      p2.hosts[1]!.cpuMillis = Math.round(p2.hosts[1]!.cpuMillis * 0.7);
      const same = async (p: PlacementProblem, from: Solution) => {
        const viaDelta = (await delta.solve(p, budget, previous(from), 'heuristic')).solution!;
        const viaWhole = (await whole.solve(p, budget, previous(from), 'heuristic')).solution!;
        const here = await solve(p, { backend: 'heuristic', timeLimitMs: budget, previous: previous(from) });
        for (const s of [viaWhole, here]) {
          expect(viaDelta.objective).toBe(s.objective);
          expect(viaDelta.bound).toBe(s.bound);
          expect(viaDelta.placement).toEqual(s.placement);
        }
        return viaDelta;
      };
      const second = await same(p2, first);
      // The same problem again, changed in place: what was passed before is read again, not remembered.
      p2.endpoints[3]!.ratePerOrigin = p2.endpoints[3]!.ratePerOrigin.map((r) => r / 2);
      await same(p2, second);
    } finally {
      await Promise.all([delta.close(), whole.close()]);
    }
  });

  it('asks for the whole problem when sent changes from one the thread does not hold', async () => {
    const { port2 } = new MessageChannel();
    const outcome = await run({
      problem: { version: 1_000_000, base: 999_999, endpoints: [] },
      timeLimitMs: 1000,
      deadline: performance.timeOrigin + performance.now() + 1000,
      port: port2,
    });
    expect(outcome).toEqual({ stale: true });
  });
});
