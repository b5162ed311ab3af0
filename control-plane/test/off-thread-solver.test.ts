// The control plane's solves run on a worker thread with a hard deadline (control-plane/off-thread-solver.ts):
// a solve that would spin for minutes (javascript-lp-solver cycling on a 10x4 instance) is stopped just past
// its deadline with the best placement it had found, and meanwhile the control plane's own thread answers
// every request it gets.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { InfeasibleError, solve, syntheticProblem, violations } from '../../solver/index.ts';
import { lpSolverCycles } from '../../solver/test/hard-instances.ts';
import { OffThreadSolver } from '../off-thread-solver.ts';

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
});
