// The scenarios as a k6 test (k6 0.57 or later runs TypeScript as it is):
//   k6 run -e SCENARIO=shifting -e TARGETS=device=http://127.0.0.1:7000,edge=http://127.0.0.1:7001 \
//     [-e TIME_SCALE=0.1] [-e RATE_SCALE=2] loadtests/k6/script.ts
// It imports the same scenario modules as `roam load`, so both send the same phases, origins and mix.
import http from 'k6/http';
import type { Options } from 'k6/options';
import { fill, originsOf, pick } from '../scenario.ts';
import { scenarios } from '../scenarios/index.ts';
import { parseTargets, targetsFor } from '../targets.ts';
import { k6Options } from './options.ts';

const name = __ENV.SCENARIO ?? 'shifting';
const scenario = scenarios[name];
if (!scenario) throw new Error(`no scenario "${name}" (have: ${Object.keys(scenarios).join(', ')})`);
const targets = targetsFor(
  originsOf(scenario),
  parseTargets((__ENV.TARGETS ?? '').split(',').filter(Boolean)),
);
const missing = originsOf(scenario).filter((o) => targets[o] === undefined);
if (missing.length > 0) throw new Error(`TARGETS has no URL for ${missing.join(', ')} (SITE=URL,...)`);

export const options: Options = k6Options(scenario, {
  timeScale: Number(__ENV.TIME_SCALE ?? 1),
  rateScale: Number(__ENV.RATE_SCALE ?? 1),
});

// Which statuses count as success, per request, made once in the init context.
const expected: Record<string, ReturnType<typeof http.expectedStatuses>> = {};
for (const [key, t] of Object.entries(scenario.requests))
  expected[key] = t.ok ? http.expectedStatuses(...t.ok) : http.expectedStatuses({ min: 200, max: 399 });

let n = 0;

export function send(): void {
  const phase = scenario!.phases[Number(__ENV.PHASE)]!;
  const origin = pick(phase.origins, Math.random());
  const key = pick(phase.mix, Math.random());
  const template = scenario!.requests[key]!;
  const req = fill(scenario!, template, n++, Math.random);
  http.request(req.method, `${targets[origin]}${req.path}`, req.body ?? null, {
    headers: req.headers,
    responseCallback: expected[key],
    tags: { request: key, endpoint: template.endpoint, origin, phase: phase.name },
  });
}
