// Conversions between the solver's internal assignment (agents on host indices), the public placement
// (endpoint id -> replica hosts and a route per origin site), and routes as one typed array (host index per
// endpoint and origin site), the form that crosses threads cheaply.
import type { Instance } from './compile.ts';
import type { Placement, PlacementProblem } from './problem.ts';
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

/**
 * The placement as host indices: routes[e * sites + o] is the index in `problem.hosts` of the host that serves
 * endpoint e's requests from origin site o (a placement of 2000 endpoints is one 100 KB block to post to
 * another thread, where the Placement's 2000 objects take milliseconds to clone).
 */
export function toRoutes(x: Instance, s: State): Int32Array {
  const routes = new Int32Array(x.E * x.O);
  for (let e = 0; e < x.E; e++) {
    const agents = x.agentsOf[e]!;
    // Origins with no traffic go to the first replica, as in toPlacement.
    routes.fill(s.host[agents[0]!]!, e * x.O, (e + 1) * x.O);
    for (const a of agents) for (const o of x.agentOrigins[a]!) routes[e * x.O + o] = s.host[a]!;
  }
  return routes;
}

/**
 * The Placement that routes (from toRoutes) stand for: each endpoint's hosts in the order it first routes to
 * them. An endpoint with a route of -1 (see routesFromPlacement) is left out.
 */
export function placementFromRoutes(p: PlacementProblem, routes: Int32Array): Placement {
  const O = p.sites.length;
  const out: Placement = {};
  p.endpoints.forEach((e, i) => {
    const at = routes.subarray(i * O, (i + 1) * O);
    if (at.includes(-1)) return;
    const route = Array.from(at, (h) => p.hosts[h]!.id);
    out[e.id] = { hosts: [...new Set(route)], route };
  });
  return out;
}

/**
 * The routes (as from toRoutes) of a placement for `p`, which may be an earlier problem's: -1 where it places
 * no such endpoint or names a host `p` does not have.
 */
export function routesFromPlacement(p: PlacementProblem, placement: Placement): Int32Array {
  const O = p.sites.length;
  const hostIndex = new Map(p.hosts.map((h, j) => [h.id, j]));
  const routes = new Int32Array(p.endpoints.length * O).fill(-1);
  p.endpoints.forEach((e, i) => {
    const route = placement[e.id]?.route ?? [];
    for (let o = 0; o < O; o++) routes[i * O + o] = hostIndex.get(route[o] ?? '') ?? -1;
  });
  return routes;
}
