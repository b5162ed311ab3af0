// `roam tune --scenario NAME`: load-test-driven tuning. Starts a local mesh, runs the scenario with the
// placement loop paused (the placement as deployed), then again with the loop at work, and reports per request
// p50/p99 and each endpoint's placement before and after: a table here, and a report file with a chart.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { comparisonChart, formatComparison, formatDetail } from '../loadtests/compare.ts';
import { scenarios } from '../loadtests/scenarios/index.ts';
import { measure, setLoop, settled } from '../loadtests/tuning.ts';
import { DEFAULT_TOPOLOGY_FILE } from '../relay/index.ts';
import { type Command, parse, UsageError } from './args.ts';
import { startMesh } from './local-mesh.ts';

const usage = `Usage: roam tune --scenario NAME [options]

Runs the scenario on a fresh local mesh twice: with the placement loop paused (everything where the deploy put
it), then with the loop moving endpoints as the workload shifts. Prints per-request p50/p99 and placements,
before and after, and writes a report (JSON) and a chart (SVG).

Options:
  --scenario NAME     a scenario of loadtests/scenarios (${Object.keys(scenarios).join(', ')})
  --topology FILE     sites and links (default: relay/default-topology.json)
  --time-scale X      multiplies every phase's duration (default: 0.5)
  --report FILE       where the report goes (default: roam-tune-NAME.json, and .svg beside it)`;

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'run a scenario before and after the placement loop settles, and compare',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        scenario: { type: 'string' },
        topology: { type: 'string' },
        'time-scale': { type: 'string' },
        report: { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const scenario = values.scenario ? scenarios[values.scenario] : undefined;
    if (!scenario)
      throw new UsageError(`--scenario must be one of ${Object.keys(scenarios).join(', ')}\n\n${usage}`);
    const timeScale = Number(values['time-scale'] ?? 0.5);
    if (!(timeScale > 0)) throw new UsageError('--time-scale expects a positive number');
    const reportFile = resolve(values.report ?? `roam-tune-${scenario.name}.json`);
    const mesh = await startMesh({
      topologyFile: values.topology ?? DEFAULT_TOPOLOGY_FILE,
      basePort: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'roam-tune-')),
      controlPlaneArgs: ['--loop-period-ms', '2000'],
    });
    try {
      await setLoop(mesh, 'pause');
      console.error(`running "${scenario.name}" with the placement loop paused...`);
      const before = await measure(mesh, 'before', scenario, { timeScale });
      await setLoop(mesh, 'resume');
      console.error('running it again with the placement loop at work...');
      const after = await measure(mesh, 'after', scenario, { timeScale });
      await settled(mesh);
      const runs = [before, after];
      console.log(formatComparison(runs, 'before'));
      console.log(`\n${formatDetail(runs)}`);
      const decisions = await mesh.admin('GET', '/api/decisions');
      writeFileSync(
        reportFile,
        `${JSON.stringify({ scenario: scenario.name, timeScale, runs, ...decisions }, null, 2)}\n`,
      );
      const chart = reportFile.replace(/\.json$/, '') + '.svg';
      writeFileSync(chart, comparisonChart(runs, `roam tune: ${scenario.name}`));
      console.log(`\nreport: ${reportFile}\nchart:  ${chart}`);
    } finally {
      await mesh.stop('SIGTERM');
    }
    return 0;
  },
};
