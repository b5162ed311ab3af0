// Picks the target for an attempt: weighted by the route table, skipping targets that are ejected or were
// already tried for this call. If every target is ejected it ignores ejection rather than fail everything
// (Envoy's panic threshold): a degraded target beats none.
import { OverloadedError } from '../../core/errors.ts';
import type { Layer } from '../dispatch.ts';
import { pickTarget } from '../route-table.ts';
import type { TargetStates } from '../target-state.ts';

export function balancerLayer(states: TargetStates, random: () => number = Math.random): Layer {
  return (next) => (call) => {
    const now = Date.now();
    const ep = call.endpoint;
    let target = pickTarget(ep, (t) => call.tried.has(t.key) || states.get(t.key).ejected(now), random());
    target ??= pickTarget(ep, (t) => states.get(t.key).ejected(now), random());
    target ??= pickTarget(ep, () => false, random());
    if (target === undefined) {
      return Promise.reject(
        new OverloadedError(`endpoint "${ep.name}" has no healthy target`, { endpoint: ep.name }),
      );
    }
    call.target = target;
    call.tried.add(target.key);
    return next(call);
  };
}
