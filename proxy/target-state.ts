// Live state of each target, shared by the layers that read and write it: requests pending (load shedding),
// consecutive failures and ejection (outlier detection), and stats for /stats and /metrics. Keyed by target
// key so it survives route-table swaps.
import { Histogram } from '../core/histogram.ts';

export class TargetState {
  readonly key: string;
  pending = 0;
  consecutiveFailures = 0;
  ejections = 0;
  ejectedUntil = 0;
  requests = 0;
  errors = 0;
  readonly latency = new Histogram();

  constructor(key: string) {
    this.key = key;
  }

  ejected(now: number): boolean {
    return this.ejectedUntil > now;
  }
}

export class TargetStates {
  private readonly states = new Map<string, TargetState>();

  get(key: string): TargetState {
    let s = this.states.get(key);
    if (s === undefined) {
      s = new TargetState(key);
      this.states.set(key, s);
    }
    return s;
  }

  all(): TargetState[] {
    return [...this.states.values()];
  }
}
