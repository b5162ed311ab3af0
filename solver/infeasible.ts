// Why no placement exists, in sentences a person can act on: endpoints no host may run (and each host's
// reason), endpoints too big for every host they may use, and groups of endpoints whose allowed hosts lack the
// capacity for all of them together. Stuck agents from a failed search are reported with the hosts' room.
import type { Instance } from './compile.ts';
import { disallowed } from './model.ts';

const mcpu = (v: number) => `${v.toFixed(0)} mCPU`;
const listed = (names: string[]) =>
  names.length > 8 ? `${names.slice(0, 8).join(', ')} and ${names.length - 8} more` : names.join(', ');

export function obstacles(x: Instance, stuck: number[] = []): string[] {
  const p = x.problem;
  const reasons: string[] = [];
  const allowedHosts = (e: number) => [...Array(x.H).keys()].filter((h) => x.allowed[e * x.H + h]);
  const load = (a: number, h: number) => x.load[a * x.Z + x.hostZone[h]!]!;
  const settled = new Set<number>();

  p.endpoints.forEach((e, i) => {
    const hosts = allowedHosts(i);
    if (hosts.length === 0) {
      const why = new Map<string, string[]>();
      for (const h of p.hosts) {
        const r = disallowed(p, e, h)!;
        why.set(r, [...(why.get(r) ?? []), h.id]);
      }
      const list = [...why].map(([r, hs]) => `${r} (${hs.join(', ')})`).join('; ');
      reasons.push(`${e.id} may run on no host: ${list}`);
      settled.add(i);
      return;
    }
    for (const a of x.agentsOf[i]!) {
      if (hosts.some((h) => load(a, h) <= x.capCpu[h]! && x.memory[i]! <= x.capMem[h]!)) continue;
      const origin = x.agentsOf[i]!.length > 1 ? ` for traffic from ${p.sites[x.agentOrigins[a]![0]!]}` : '';
      const room = hosts
        .map(
          (h) =>
            `${p.hosts[h]!.id} needs ${mcpu(load(a, h))}, ${x.memory[i]} MiB, has ${mcpu(x.capCpu[h]!)}, ${x.capMem[h]} MiB`,
        )
        .join('; ');
      reasons.push(`${e.id} fits on none of the hosts it may use${origin} (${room})`);
      settled.add(i);
      break;
    }
  });

  // Groups: the endpoints confined to a set of hosts need, at the least, their cheapest load on those hosts.
  const sets = new Map<string, number[]>();
  for (let e = 0; e < x.E; e++) if (!settled.has(e)) sets.set(allowedHosts(e).join(','), allowedHosts(e));
  for (const hosts of sets.values()) {
    const inSet = new Set(hosts);
    const members = [...Array(x.E).keys()].filter(
      (e) => !settled.has(e) && allowedHosts(e).every((h) => inSet.has(h)),
    );
    let cpu = 0;
    let mem = 0;
    for (const e of members) {
      for (const a of x.agentsOf[e]!) cpu += Math.min(...hosts.map((h) => load(a, h)));
      mem += x.memory[e]!;
    }
    const capCpu = hosts.reduce((s, h) => s + Math.max(0, x.capCpu[h]!), 0);
    const capMem = hosts.reduce((s, h) => s + Math.max(0, x.capMem[h]!), 0);
    const shown = listed(members.map((e) => p.endpoints[e]!.id));
    const where = hosts.length === x.H ? 'all hosts' : `hosts ${hosts.map((h) => p.hosts[h]!.id).join(', ')}`;
    if (cpu > capCpu * (1 + 1e-9))
      reasons.push(
        `${shown} may only use ${where}, and need ${mcpu(cpu)} there together: ${mcpu(capCpu)} is free`,
      );
    if (mem > capMem * (1 + 1e-9))
      reasons.push(
        `${shown} may only use ${where}, and need ${mem} MiB there together: ${capMem} MiB is free`,
      );
  }

  if (reasons.length === 0 && stuck.length > 0) {
    const names = [...new Set(stuck.map((a) => p.endpoints[x.agentEndpoint[a]!]!.id))];
    reasons.push(
      `no packing was found for ${listed(names)}: each fits somewhere and total capacity ` +
        'suffices, but not all at once within the time limit (raise timeLimitMs, free capacity, or relax policy)',
    );
  }
  return reasons;
}
