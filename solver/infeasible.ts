// Why no placement exists, in sentences a person can act on: endpoints no host may run (and each host's
// reason), endpoints too big for every host they may use, and groups of endpoints whose allowed hosts lack the
// capacity for all of them together. Stuck agents from a failed search are reported with the hosts' room.
import type { Instance } from './compile.ts';
import { disallowed } from './model.ts';

const mcpu = (v: number) => `${v.toFixed(0)} mCPU`;
const listed = (names: string[]) =>
  names.length > 8 ? `${names.slice(0, 8).join(', ')} and ${names.length - 8} more` : names.join(', ');

export function obstacles(x: Instance, stuck: number[] = [], proven = false): string[] {
  const p = x.problem;
  const reasons: string[] = [];
  const hostsOf = Array.from({ length: x.E }, (_, e) =>
    [...Array(x.H).keys()].filter((h) => x.allowed[e * x.H + h]),
  );
  const allowedHosts = (e: number) => hostsOf[e]!;
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
  // Endpoints with the same allowed hosts are summed once, then each set collects the sets inside it.
  const sets = new Map<string, { hosts: number[]; members: number[]; cpu: number; mem: number }>();
  for (let e = 0; e < x.E; e++) {
    if (settled.has(e)) continue;
    const key = allowedHosts(e).join(',');
    let set = sets.get(key);
    if (!set) {
      set = { hosts: allowedHosts(e), members: [], cpu: 0, mem: 0 };
      sets.set(key, set);
    }
    set.members.push(e);
    for (const a of x.agentsOf[e]!) {
      let least = Number.POSITIVE_INFINITY;
      for (const h of set.hosts) least = Math.min(least, load(a, h));
      set.cpu += least;
    }
    set.mem += x.memory[e]!;
  }
  for (const { hosts } of sets.values()) {
    const inSet = new Set(hosts);
    const members: number[] = [];
    let cpu = 0;
    let mem = 0;
    for (const inner of sets.values()) {
      if (!inner.hosts.every((h) => inSet.has(h))) continue;
      members.push(...inner.members);
      cpu += inner.cpu;
      mem += inner.mem;
    }
    members.sort((a, b) => a - b);
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
    // Proven (an exact backend found no placement at all): more time would not help.
    reasons.push(
      proven
        ? `no placement exists for ${listed(names)}: each fits somewhere and total capacity suffices, but an ` +
            'exact search (HiGHS) proved they cannot all fit at once (free capacity, or relax policy)'
        : `no packing was found for ${listed(names)}: each fits somewhere and total capacity ` +
            'suffices, but not all at once within the time limit (raise timeLimitMs, free capacity, or relax policy)',
    );
  }
  return reasons;
}
