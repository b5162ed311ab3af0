// `roam load`: runs a load-test scenario (loadtests/) open loop against the mesh's entry proxies, prints
// per-phase and per-request p50/p99 and errors, and writes the whole report as JSON.
import { writeFileSync } from 'node:fs';
import { formatReport, runScenario } from '../loadtests/runner.ts';
import { originsOf } from '../loadtests/scenario.ts';
import { scenarios } from '../loadtests/scenarios/index.ts';
import { parseTargets, targetsFor } from '../loadtests/targets.ts';
import { type Command, parse, UsageError } from './args.ts';

const usage = `Usage: roam load --scenario NAME --target SITE=URL ... [options]

Sends the scenario's requests at their scheduled times (open loop) to the proxy each origin site enters at.
Scenarios: ${Object.values(scenarios)
  .map((s) => `${s.name} (${s.description})`)
  .join('; ')}.

Options:
  --scenario NAME       which scenario (required)
  --target SITE=URL     the entry proxy for requests from SITE (repeatable); a bare URL serves every origin
  --time-scale X        multiply every phase's duration (default: 1; 0.1 runs ten times shorter)
  --rate-scale X        multiply every phase's arrival rate (default: 1)
  --seed N              seed of the request choices (default: 1)
  --max-in-flight N     outstanding requests before arrivals are dropped and counted (default: 4096)
  --timeout-ms MS       a request not answered by then is an error (default: 10000)
  --report FILE         where the JSON report goes (default: roam-load-NAME.json)

Ctrl-C stops sending, waits for the requests in flight and reports what ran.`;

function positive(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n))
    throw new UsageError(`${flag} expects a number above 0, got "${value}"`);
  return n;
}

export const loadCommand: Command = {
  name: 'load',
  summary: 'run a load-test scenario against the mesh (open loop) and report p50/p99 per request',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        scenario: { type: 'string' },
        target: { type: 'string', multiple: true },
        'time-scale': { type: 'string' },
        'rate-scale': { type: 'string' },
        seed: { type: 'string' },
        'max-in-flight': { type: 'string' },
        'timeout-ms': { type: 'string' },
        report: { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const scenario = scenarios[values.scenario ?? ''];
    if (!scenario)
      throw new UsageError(
        `--scenario expects one of ${Object.keys(scenarios).join(', ')}, got "${values.scenario ?? ''}"`,
      );
    const targets = targetsFor(originsOf(scenario), parseTargets(values.target ?? []));
    const stop = new AbortController();
    const interrupt = () => stop.abort();
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    try {
      const report = await runScenario(scenario, {
        targets,
        timeScale: positive(values['time-scale'], '--time-scale', 1),
        rateScale: positive(values['rate-scale'], '--rate-scale', 1),
        seed: Math.floor(positive(values.seed, '--seed', 1)),
        maxInFlight: Math.floor(positive(values['max-in-flight'], '--max-in-flight', 4096)),
        timeoutMs: positive(values['timeout-ms'], '--timeout-ms', 10_000),
        signal: stop.signal,
        onPhase: (phase, i) =>
          console.error(
            `phase ${i + 1}/${scenario.phases.length}: ${phase.name} (${phase.durationS} s nominal)`,
          ),
      });
      const file = values.report ?? `roam-load-${scenario.name}.json`;
      writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
      console.log(formatReport(report));
      console.log(`\nreport: ${file}`);
      const total = Object.values(report.total);
      return total.some((s) => s.errors > 0 || s.dropped > 0) ? 1 : 0;
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    }
  },
};
