// Retries, only where safe: a failure to connect (nothing was sent) for any method, and a failed attempt of an
// idempotent method. A budget bounds retries to a fraction of requests (plus a small floor per second), so
// during an outage retries cannot multiply the load on what is left (Linkerd's and Envoy's retry budgets).
import { type RoamError, toRoamError } from '../../core/errors.ts';
import type { EndpointCall, Layer } from '../dispatch.ts';

export interface RetryBudgetOptions {
  /** Retries allowed per original request, on average. */
  ratio: number;
  /** Retries per second allowed regardless of traffic. */
  minPerSecond: number;
}

export class RetryBudget {
  private tokens: number;
  private last: number;
  private readonly options: RetryBudgetOptions;
  private readonly now: () => number;

  constructor(options: RetryBudgetOptions = { ratio: 0.2, minPerSecond: 10 }, now: () => number = Date.now) {
    this.options = options;
    this.now = now;
    this.tokens = options.minPerSecond;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    const elapsed = (t - this.last) / 1000;
    this.last = t;
    this.tokens = Math.min(this.tokens + elapsed * this.options.minPerSecond, this.cap());
  }

  private cap(): number {
    return Math.max(this.options.minPerSecond, 100);
  }

  /** Called once per original request: each one earns a fraction of a retry. */
  deposit(): void {
    this.refill();
    this.tokens = Math.min(this.tokens + this.options.ratio, this.cap());
  }

  tryWithdraw(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Codes that mean the request never reached the target (safe to retry for any method). */
const NOT_SENT = new Set([
  'ROAM_ERR_OVERLOADED',
  'ROAM_ERR_ENDPOINT_NOT_ACTIVE',
  'ROAM_ERR_ENDPOINT_DRAINING',
]);

export function notSent(err: RoamError): boolean {
  if (NOT_SENT.has(err.code)) return true;
  const cause = err.cause as { code?: string } | undefined;
  return cause?.code === 'ECONNREFUSED' || cause?.code === 'UND_ERR_CONNECT_TIMEOUT';
}

function retryable(call: EndpointCall, err: RoamError): boolean {
  if (call.signal.aborted) return false;
  if (notSent(err)) return true;
  // An endpoint's own error (a trap, an oversize response) would fail the same way anywhere.
  if (err.code === 'ROAM_ERR_ENDPOINT_TRAP' || err.code === 'ROAM_ERR_PAYLOAD_TOO_LARGE') return false;
  // A cancelled invocation was given up on purpose: a retry would undo the cancellation.
  if (err.code === 'ROAM_ERR_ENDPOINT_CANCELLED') return false;
  return call.idempotent;
}

export function retryLayer(budget: RetryBudget): Layer {
  return (next) => async (call) => {
    budget.deposit();
    const max = call.route?.retries ?? 1;
    for (;;) {
      try {
        return await next(call);
      } catch (thrown) {
        const err = toRoamError(thrown, call.endpoint.name);
        if (call.attempt >= max || !retryable(call, err) || !budget.tryWithdraw()) throw err;
        call.attempt++;
      }
    }
  };
}
