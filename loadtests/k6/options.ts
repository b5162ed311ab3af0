// A scenario as k6 options: one constant-arrival-rate executor per phase, started when the phase before it
// ends, so k6 keeps the same open-loop schedule as the Node runner. Pure: the k6 script and tests both use it.
// The shape is k6's (`Options` from k6/options); the script's typecheck holds it to that, which keeps k6's
// globals out of the Node program here.
import type { Scenario } from '../scenario.ts';

export interface Scaling {
  timeScale: number;
  rateScale: number;
}

/** k6 rates are whole iterations per time unit: a fractional rate is counted per minute instead. */
function arrivalRate(perSecond: number): { rate: number; timeUnit: string } {
  return Number.isInteger(perSecond)
    ? { rate: perSecond, timeUnit: '1s' }
    : { rate: Math.max(1, Math.round(perSecond * 60)), timeUnit: '1m' };
}

export interface K6ArrivalScenario {
  executor: 'constant-arrival-rate';
  exec: string;
  startTime: string;
  duration: string;
  rate: number;
  timeUnit: string;
  preAllocatedVUs: number;
  maxVUs: number;
  gracefulStop: string;
  env: Record<string, string>;
  tags: Record<string, string>;
}

export function k6Options(
  scenario: Scenario,
  { timeScale, rateScale }: Scaling,
): { scenarios: Record<string, K6ArrivalScenario>; discardResponseBodies: boolean } {
  const scenarios: Record<string, K6ArrivalScenario> = {};
  let startMs = 0;
  scenario.phases.forEach((phase, i) => {
    const durationMs = Math.round(phase.durationS * 1000 * timeScale);
    const rate = phase.rate * rateScale;
    scenarios[`${i}-${phase.name}`] = {
      executor: 'constant-arrival-rate',
      exec: 'send',
      startTime: `${startMs}ms`,
      duration: `${durationMs}ms`,
      ...arrivalRate(rate),
      // Enough virtual users for 10 s of latency at this rate; past that k6 drops arrivals (and counts them).
      preAllocatedVUs: Math.max(5, Math.ceil(rate)),
      maxVUs: Math.max(50, Math.ceil(rate * 10)),
      gracefulStop: '10s',
      env: { PHASE: String(i) },
      tags: { phase: phase.name },
    };
    startMs += durationMs;
  });
  return { scenarios, discardResponseBodies: true };
}
