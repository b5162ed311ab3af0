// Conversions between the solver's internal assignment (agents on host indices) and the public placement
// (endpoint id -> replica hosts and a route per origin site).
import type { Instance } from './compile.ts';
import type { Placement } from './problem.ts';
import type { State } from './state.ts';

export function toPlacement(x: Instance, s: State): Placement {
  const p = x.problem;
  const out: Placement = {};
  p.endpoints.forEach((e, i) => {
    const hosts: string[] = [];
    const route: string[] = new Array(x.O);
    for (const a of x.agentsOf[i]!) {
      const id = p.hosts[s.host[a]!]!.id;
      if (!hosts.includes(id)) hosts.push(id);
      for (const o of x.agentOrigins[a]!) route[o] = id;
    }
    // Origins with no traffic to this endpoint go to its first replica; they cost and load nothing.
    for (let o = 0; o < x.O; o++) route[o] ??= hosts[0]!;
    out[e.id] = { hosts, route };
  });
  return out;
}

/** Host index per agent from a placement (e.g. the previous answer); -1 where it names nothing usable. */
export function fromPlacement(x: Instance, placement: Placement): Int32Array {
  const p = x.problem;
  const hostIndex = new Map(p.hosts.map((h, j) => [h.id, j]));
  return Int32Array.from(x.agentEndpoint, (e, a) => {
    const at = placement[p.endpoints[e]!.id];
    if (!at) return -1;
    const id = x.agentsOf[e]!.length > 1 ? at.route[x.agentOrigins[a]![0]!] : at.hosts[0];
    return hostIndex.get(id ?? '') ?? -1;
  });
}
