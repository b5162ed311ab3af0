// Load shedding: a cap on requests pending per target. Past it the attempt fails at once with 503 instead of
// queueing without bound (linkerd2-proxy's loadshed); the retry layer may still try another target.
import { OverloadedError } from '../../core/errors.ts';
import type { Layer } from '../dispatch.ts';
import type { TargetStates } from '../target-state.ts';

export function loadShedLayer(states: TargetStates, maxPending: number): Layer {
  return (next) => async (call) => {
    const s = states.get(call.target!.key);
    if (s.pending >= maxPending) {
      throw new OverloadedError(
        `target ${s.key} of endpoint "${call.endpoint.name}" has ${maxPending} requests pending`,
        {
          endpoint: call.endpoint.name,
        },
      );
    }
    s.pending++;
    try {
      return await next(call);
    } finally {
      s.pending--;
    }
  };
}
