// Checks a problem's shape before anything is computed from it, so every later step may index freely; each
// failure names the field at fault.
import { InvalidProblemError } from './errors.ts';
import type { PlacementProblem } from './problem.ts';

const nonNegative = (v: unknown): boolean => typeof v === 'number' && v >= 0 && Number.isFinite(v);

export function validate(p: PlacementProblem): void {
  const n = p.sites.length;
  const fail = (message: string): never => {
    throw new InvalidProblemError(message);
  };
  if (n === 0) fail('the problem has no sites');
  if (p.rttMs.length !== n || p.rttMs.some((row) => row.length !== n))
    fail(`rttMs must be a ${n}x${n} matrix (one row and column per site)`);
  if (p.rttMs.some((row) => !row.every(nonNegative))) fail('rttMs entries must be finite and >= 0');
  const hosts = new Set<string>();
  for (const h of p.hosts) {
    if (hosts.has(h.id)) fail(`host id "${h.id}" appears twice`);
    hosts.add(h.id);
    if (!Number.isInteger(h.site) || h.site < 0 || h.site >= n)
      fail(`host ${h.id} has site ${h.site}, not one of 0..${n - 1}`);
    if (![h.cpuMillis, h.memoryMib, h.cpuUsedMillis ?? 0, h.memoryUsedMib ?? 0].every(nonNegative))
      fail(`host ${h.id}: capacities and current load must be finite and >= 0`);
  }
  const stores = new Set<string>();
  for (const s of p.stores) {
    if (stores.has(s.id)) fail(`store id "${s.id}" appears twice`);
    stores.add(s.id);
    if (!Number.isInteger(s.site) || s.site < 0 || s.site >= n) fail(`store ${s.id} has site ${s.site}`);
    if (s.rttMs.length !== n || !s.rttMs.every((v) => v === null || nonNegative(v)))
      fail(`store ${s.id}: rttMs needs ${n} entries, each >= 0 or null (unreachable)`);
  }
  for (const [from, row] of Object.entries(p.bandwidthCostPerByte))
    for (const [to, v] of Object.entries(row))
      if (!nonNegative(v)) fail(`bandwidthCostPerByte.${from}.${to} must be finite and >= 0`);
  if (![p.weights?.egress ?? 1, p.weights?.migration ?? 1].every(nonNegative))
    fail('weights must be finite and >= 0');
  const endpoints = new Set<string>();
  for (const e of p.endpoints) {
    if (endpoints.has(e.id)) fail(`endpoint id "${e.id}" appears twice`);
    endpoints.add(e.id);
    if (e.ratePerOrigin.length !== n || !e.ratePerOrigin.every(nonNegative))
      fail(`endpoint ${e.id}: ratePerOrigin needs ${n} finite rates >= 0`);
    if (!Object.values(e.cpuMsPerCall).every(nonNegative) || !nonNegative(e.memoryMib))
      fail(`endpoint ${e.id}: cpuMsPerCall and memoryMib must be finite and >= 0`);
    if (!nonNegative(e.moveCost ?? 0)) fail(`endpoint ${e.id}: moveCost must be finite and >= 0`);
    for (const a of e.stores) {
      if (!stores.has(a.store)) fail(`endpoint ${e.id} uses unknown store "${a.store}"`);
      if (!nonNegative(a.perRequest) || !nonNegative(a.bytesPerRequest))
        fail(`endpoint ${e.id}: store access to ${a.store} needs counts >= 0`);
    }
    for (const h of [...(e.current ?? []), ...(e.policy?.pinnedHosts ?? [])])
      if (!hosts.has(h)) fail(`endpoint ${e.id} names unknown host "${h}"`);
    const max = e.policy?.maxReplicas ?? 1;
    if (!Number.isInteger(max) || max < 1) fail(`endpoint ${e.id}: maxReplicas must be an integer >= 1`);
  }
  for (const e of p.endpoints)
    for (const c of e.calls) {
      if (!endpoints.has(c.to)) fail(`endpoint ${e.id} calls unknown endpoint "${c.to}"`);
      if (!nonNegative(c.perRequest) || !nonNegative(c.bytesPerCall))
        fail(`endpoint ${e.id}: call to ${c.to} needs counts >= 0`);
    }
}
