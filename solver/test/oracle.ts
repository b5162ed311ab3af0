// An exact optimum for tiny placement problems, by enumerating every placement: the reference the property
// tests hold every strategy to (issue 16).
//
// Why it is independent of the solver: it never touches what the solver searches with (the compiled tables,
// agents and zones of compile.ts, the MILP of formulation.ts, the Lagrangian bound, the heuristic, the
// backends). It builds placements in the public shape (`Placement`: replica hosts and a route per origin site)
// and keeps or drops them with `violations`, and costs them with `evaluate`: the two functions of model.ts that
// compute the constraints and the objective straight from the problem, and so define what "feasible" and
// "optimal" mean (docs/solver.md). A bug in how the solver models the problem cannot move this answer.
//
// Complete: every endpoint gets every route (one host per origin site, any of the problem's hosts), and its
// replica hosts are exactly the hosts its route uses. That loses nothing: a replica no origin is routed to
// only adds memory, a replica (against maxReplicas) and, if it is started, migration, and costs no latency
// or egress, so dropping it keeps a placement feasible and never makes it dearer. Routes with more distinct
// hosts than maxReplicas are skipped before `violations` sees them only because it would reject them anyway.
import { evaluate, violations } from '../model.ts';
import type { EndpointPlacement, Placement, PlacementProblem } from '../problem.ts';

export type Oracle = { optimum: number; placement: Placement } | 'infeasible';

/** Every placement of one endpoint: a route per origin site, the replicas being the hosts it uses. */
export function endpointChoices(p: PlacementProblem, endpoint: number): EndpointPlacement[] {
  const e = p.endpoints[endpoint]!;
  const ids = p.hosts.map((h) => h.id);
  const maxReplicas = e.policy?.maxReplicas ?? 1;
  const out: EndpointPlacement[] = [];
  const route: string[] = [];
  const extend = (o: number) => {
    if (o === p.sites.length) {
      const hosts = [...new Set(route)];
      if (hosts.length <= maxReplicas) out.push({ hosts, route: [...route] });
      return;
    }
    for (const id of ids) {
      route[o] = id;
      extend(o + 1);
    }
  };
  extend(0);
  return out;
}

/** How many placements `exactOptimum` would try. */
export function placementCount(p: PlacementProblem): number {
  return p.endpoints.reduce((n, _e, i) => n * endpointChoices(p, i).length, 1);
}

/**
 * The cheapest feasible placement (the first found among equals) and its cost, or 'infeasible' when no
 * placement passes `violations`. Refuses problems with more than `limit` placements to try.
 */
export function exactOptimum(p: PlacementProblem, limit = 50_000): Oracle {
  const choices = p.endpoints.map((_e, i) => endpointChoices(p, i));
  const count = choices.reduce((n, c) => n * c.length, 1);
  if (count > limit) throw new Error(`${count} placements to enumerate, more than the limit of ${limit}`);
  let best: { optimum: number; placement: Placement } | undefined;
  // An odometer over the endpoints' choices: every combination exactly once.
  const digit = choices.map(() => 0);
  for (let k = 0; k < count; k++) {
    const placement: Placement = {};
    p.endpoints.forEach((e, i) => {
      placement[e.id] = choices[i]![digit[i]!]!;
    });
    if (violations(p, placement).length === 0) {
      const total = evaluate(p, placement).total;
      if (!best || total < best.optimum) best = { optimum: total, placement };
    }
    for (let i = 0; i < digit.length; i++) {
      digit[i] = digit[i]! + 1;
      if (digit[i]! < choices[i]!.length) break;
      digit[i] = 0;
    }
  }
  return best ?? 'infeasible';
}
