// The placement MILP as backend-neutral data: x[e,h] binary (endpoint e on host h), one host per endpoint,
// CPU and memory per host, and, when `pairs` is on, the call-graph terms linearised exactly: for each call edge
// (e->f) and site pair (s,t), z >= sum_{h in s} x[e,h] + sum_{k in t} x[f,k] - 1 with z >= 0, costed at the
// edge's cost between s and t (costs are non-negative, so minimisation makes z the product).

import type { Tables } from './heuristic.ts';
import { pairCost } from './model.ts';
import type { PlacementProblem } from './problem.ts';

export interface LinearProgram {
  /** Variable name -> objective coefficient. */
  objective: Map<string, number>;
  constraints: { name: string; terms: [string, number][]; op: '<=' | '>=' | '='; rhs: number }[];
  binaries: string[];
  continuous: string[];
}

export const xName = (e: number, h: number) => `x${e}_${h}`;

/**
 * `pairs`: 'exact' linearises every site pair (for exact solves); 'cut' adds, per call edge and site, a
 * cross-site indicator d >= u[e,s] - u[f,s] and charges the edge's in-site cost plus (cheapest cross-site cost -
 * in-site cost) x sum_s d: an under-estimate of the true call cost, linear in edges x sites, which makes the
 * LP relaxation (and its bound) see co-location; 'none' leaves call terms out.
 */
export function formulate(p: PlacementProblem, t: Tables, pairs: 'exact' | 'cut' | 'none'): LinearProgram {
  const objective = new Map<string, number>();
  const constraints: LinearProgram['constraints'] = [];
  const binaries: string[] = [];
  const continuous: string[] = [];
  const cpu: [string, number][][] = p.hosts.map(() => []);
  const mem: [string, number][][] = p.hosts.map(() => []);
  p.endpoints.forEach((e, i) => {
    const one: [string, number][] = [];
    p.hosts.forEach((_h, j) => {
      const u = t.unary[i]![j]!;
      if (!Number.isFinite(u)) return; // policy forbids it: no variable at all
      const x = xName(i, j);
      objective.set(x, u);
      binaries.push(x);
      one.push([x, 1]);
      if (t.load[i]![j]! > 0) cpu[j]!.push([x, t.load[i]![j]!]);
      if (e.memoryMib > 0) mem[j]!.push([x, e.memoryMib]);
    });
    constraints.push({ name: `one${i}`, terms: one, op: '=', rhs: 1 });
  });
  p.hosts.forEach((h, j) => {
    if (cpu[j]!.length > 0)
      constraints.push({
        name: `cpu${j}`,
        terms: cpu[j]!,
        op: '<=',
        rhs: h.cpuMillis - (h.cpuUsedMillis ?? 0),
      });
    if (mem[j]!.length > 0) constraints.push({ name: `mem${j}`, terms: mem[j]!, op: '<=', rhs: h.memoryMib });
  });
  if (pairs === 'cut') addCutTerms(p, t, objective, constraints, continuous);
  if (pairs === 'exact') {
    const sites = p.sites.length;
    let edge = 0;
    p.endpoints.forEach((e, i) => {
      for (const [f, call] of t.outgoing[i]!) {
        for (let s = 0; s < sites; s++) {
          for (let u = 0; u < sites; u++) {
            const cost = pairCost(p, e, call, s, u);
            if (cost <= 0) continue;
            const z = `z${edge}_${s}_${u}`;
            const terms: [string, number][] = [[z, 1]];
            p.hosts.forEach((h, j) => {
              if (h.site === s && objective.has(xName(i, j))) terms.push([xName(i, j), -1]);
              if (h.site === u && objective.has(xName(f, j))) terms.push([xName(f, j), -1]);
            });
            objective.set(z, cost);
            continuous.push(z);
            constraints.push({ name: `pair${edge}_${s}_${u}`, terms, op: '>=', rhs: -1 });
          }
        }
        edge++;
      }
    });
  }
  return { objective, constraints, binaries, continuous };
}

/** The constant part of the 'cut' call terms (the in-site cost every edge pays at least). */
export function cutConstant(p: PlacementProblem, t: Tables): number {
  let total = 0;
  p.endpoints.forEach((e, i) => {
    for (const [, call] of t.outgoing[i]!) total += minInSite(p, e, call);
  });
  return total;
}

function minInSite(
  p: PlacementProblem,
  e: PlacementProblem['endpoints'][number],
  call: PlacementProblem['endpoints'][number]['calls'][number],
): number {
  let m = Number.POSITIVE_INFINITY;
  for (let s = 0; s < p.sites.length; s++) m = Math.min(m, pairCost(p, e, call, s, s));
  return m;
}

function minCross(
  p: PlacementProblem,
  e: PlacementProblem['endpoints'][number],
  call: PlacementProblem['endpoints'][number]['calls'][number],
): number {
  let m = Number.POSITIVE_INFINITY;
  for (let s = 0; s < p.sites.length; s++)
    for (let u = 0; u < p.sites.length; u++) if (s !== u) m = Math.min(m, pairCost(p, e, call, s, u));
  return m;
}

function addCutTerms(
  p: PlacementProblem,
  t: Tables,
  objective: Map<string, number>,
  constraints: LinearProgram['constraints'],
  continuous: string[],
): void {
  let edge = 0;
  p.endpoints.forEach((e, i) => {
    for (const [f, call] of t.outgoing[i]!) {
      const extra = minCross(p, e, call) - minInSite(p, e, call);
      if (extra > 0 && Number.isFinite(extra)) {
        for (let s = 0; s < p.sites.length; s++) {
          const d = `d${edge}_${s}`;
          const terms: [string, number][] = [[d, 1]];
          p.hosts.forEach((h, j) => {
            if (h.site !== s) return;
            if (objective.has(xName(i, j))) terms.push([xName(i, j), -1]);
            if (objective.has(xName(f, j))) terms.push([xName(f, j), 1]);
          });
          // Both ends on site s, or neither: no crossing counted here.
          if (terms.length === 1) continue;
          objective.set(d, extra);
          continuous.push(d);
          constraints.push({ name: `cut${edge}_${s}`, terms, op: '>=', rhs: 0 });
        }
      }
      edge++;
    }
  });
}

/** CPLEX LP text, which HiGHS reads. `relax` drops integrality (the LP relaxation). */
export function toLpText(lp: LinearProgram, relax: boolean): string {
  const parts: string[] = ['Minimize', ' obj:'];
  const term = (v: string, c: number) => `${c >= 0 ? '+' : '-'} ${Math.abs(c)} ${v}`;
  const line: string[] = [];
  for (const [v, c] of lp.objective) line.push(term(v, c));
  parts.push(` ${line.join(' ') || '0 x0_0'}`);
  parts.push('Subject To');
  for (const c of lp.constraints) {
    parts.push(` ${c.name}: ${c.terms.map(([v, k]) => term(v, k)).join(' ')} ${c.op} ${c.rhs}`);
  }
  parts.push('Bounds');
  for (const v of lp.binaries) parts.push(` 0 <= ${v} <= 1`);
  if (!relax && lp.binaries.length > 0) {
    parts.push('Binary');
    // Long lines are fine for HiGHS, but chunking keeps the text readable when dumped for debugging.
    for (let i = 0; i < lp.binaries.length; i += 20) parts.push(` ${lp.binaries.slice(i, i + 20).join(' ')}`);
  }
  parts.push('End');
  return parts.join('\n');
}

/** The model in javascript-lp-solver's JSON form. */
export function toJsLpModel(lp: LinearProgram, timeoutMs: number): Record<string, unknown> {
  const variables: Record<string, Record<string, number>> = {};
  for (const [v, c] of lp.objective) variables[v] = { cost: c };
  const constraints: Record<string, Record<string, number>> = {};
  for (const c of lp.constraints) {
    constraints[c.name] = c.op === '<=' ? { max: c.rhs } : c.op === '>=' ? { min: c.rhs } : { equal: c.rhs };
    for (const [v, k] of c.terms) variables[v]![c.name] = k;
  }
  const ints: Record<string, 1> = {};
  for (const v of lp.binaries) {
    ints[v] = 1;
    constraints[`ub_${v}`] = { max: 1 };
    variables[v]![`ub_${v}`] = 1;
  }
  return { optimize: 'cost', opType: 'min', constraints, variables, ints, options: { timeout: timeoutMs } };
}
