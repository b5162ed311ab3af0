// Outlier detection: a target that fails several attempts in a row (transport failures and 5xx local errors,
// not the endpoint's own 5xx answers) is ejected for a while, longer each time it happens again; a success
// resets its count. Also records per-target request stats.
import { toRoamError } from '../../core/errors.ts';
import type { Layer } from '../dispatch.ts';
import type { TargetStates } from '../target-state.ts';

export interface OutlierOptions {
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export const DEFAULT_OUTLIER: OutlierOptions = {
  consecutiveFailures: 5,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
};

export function outlierLayer(states: TargetStates, options: OutlierOptions = DEFAULT_OUTLIER): Layer {
  return (next) => async (call) => {
    const key = call.target!.key;
    const s = states.get(key);
    s.requests++;
    const start = performance.now();
    try {
      const res = await next(call);
      s.consecutiveFailures = 0;
      const ms = performance.now() - start;
      s.latency.record(ms);
      return res;
    } catch (thrown) {
      const err = toRoamError(thrown, call.endpoint.name);
      const ms = performance.now() - start;
      s.errors++;
      s.latency.record(ms);
      // Overload and the endpoint's own traps say nothing about the target's health.
      if (
        err.code !== 'ROAM_ERR_OVERLOADED' &&
        err.code !== 'ROAM_ERR_ENDPOINT_TRAP' &&
        !call.signal.aborted
      ) {
        if (++s.consecutiveFailures >= options.consecutiveFailures) {
          s.ejections++;
          s.ejectedUntil = Date.now() + Math.min(options.baseEjectionMs * s.ejections, options.maxEjectionMs);
          s.consecutiveFailures = 0;
        }
      }
      throw err;
    }
  };
}
