// The headline figure (README "Figures"): on a local mesh whose sites are apart as the default topology says
// (device - 10 ms - edge - 40 ms - cluster, emulated by the relay), the shifting workload (origins move between
// device, edge and cluster; a data-heavy cart; a chatty checkout -> cart/pricing) under four placements:
//   static, everything in the cluster (where a deploy puts it);
//   static, everything at the edge;
//   static, the best placement for the first phase (found by the solver from that phase's profiles);
//   adaptive (the placement loop at work during the run).
// Each run gets a fresh mesh and the same seeded arrivals. Printed: p50 and p99 over all requests, and the
// ratios against adaptive. The aim: a p99 at least 2x better than the best static placement.
// Run: npm run bench -- adaptive [--quick] [--scenario=NAME] (default shifting; data-bound shows the other case)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Mesh, startMesh } from '../cli/local-mesh.ts';
import { comparisonChart, formatComparison, formatDetail, type RunSummary } from '../loadtests/compare.ts';
import type { Scenario } from '../loadtests/scenario.ts';
import { scenarios } from '../loadtests/scenarios/index.ts';
import { firstPhase, measure, setLoop, settled } from '../loadtests/tuning.ts';
import { DEFAULT_TOPOLOGY_FILE } from '../relay/index.ts';

const quick = process.argv.includes('--quick');
const timeScale = quick ? 0.25 : 0.5;
const scenarioName =
  process.argv.find((a) => a.startsWith('--scenario='))?.slice('--scenario='.length) ?? 'shifting';
if (!scenarios[scenarioName]) {
  console.error(`--scenario expects one of ${Object.keys(scenarios).join(', ')}, got "${scenarioName}"`);
  process.exit(2);
}
const scenario: Scenario = scenarios[scenarioName];

async function withMesh<T>(loop: boolean, run: (mesh: Mesh) => Promise<T>): Promise<T> {
  const dataDir = mkdtempSync(join(tmpdir(), 'roam-adaptive-'));
  const mesh = await startMesh({
    topologyFile: DEFAULT_TOPOLOGY_FILE,
    basePort: 0,
    dataDir,
    controlPlaneArgs: loop ? ['--loop-period-ms', '2000'] : ['--placement-loop', 'off'],
  });
  try {
    return await run(mesh);
  } finally {
    await mesh.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function moveAll(mesh: Mesh, to: string): Promise<void> {
  for (const endpoint of mesh.endpoints) {
    const res = (await mesh.admin('POST', '/api/migrate', { endpoint, to })) as { migration: { id: number } };
    if (!res.migration) throw new Error(`moving ${endpoint} to ${to} failed`);
  }
  await settled(mesh);
}

async function main(): Promise<void> {
  const runs: RunSummary[] = [];
  console.error('static: all in the cluster');
  runs.push(await withMesh(false, (m) => measure(m, 'all in the cluster', scenario, { timeScale })));
  console.error('static: all at the edge');
  runs.push(
    await withMesh(false, async (m) => {
      await moveAll(m, 'edge-host');
      return measure(m, 'all at the edge', scenario, { timeScale });
    }),
  );
  // The loop learns the first phase, settles, and is paused: that placement then stays for the whole run.
  // The adaptive run gets the same warm-up, and keeps its loop.
  for (const adaptive of [false, true]) {
    const label = adaptive ? 'adaptive' : 'best static for phase 1';
    console.error(label);
    runs.push(
      await withMesh(true, async (m) => {
        await measure(m, 'warm-up', firstPhase(scenario), { timeScale, seed: 7 });
        await settled(m);
        if (!adaptive) await setLoop(m, 'pause');
        return measure(m, label, scenario, { timeScale });
      }),
    );
  }
  console.log(
    `\n${scenario.name} workload, ${scenario.phases.length} phases of ${scenario.phases[0]!.durationS * timeScale} s, seeded arrivals\n`,
  );
  console.log(formatComparison(runs, 'adaptive'));
  console.log(`\n${formatDetail(runs)}`);
  const best = runs.find((r) => r.label === 'best static for phase 1')!;
  const adaptive = runs.find((r) => r.label === 'adaptive')!;
  const staticBest = runs
    .filter((r) => r.label !== 'adaptive')
    .reduce((a, b) => (b.all.p99Ms < a.all.p99Ms ? b : a));
  console.log(
    `\nadaptive vs best static for phase 1: p50 ${(best.all.p50Ms / adaptive.all.p50Ms).toFixed(2)}x, p99 ${(best.all.p99Ms / adaptive.all.p99Ms).toFixed(2)}x better`,
  );
  console.log(
    `adaptive vs the best of the static runs (${staticBest.label}): p99 ${(staticBest.all.p99Ms / adaptive.all.p99Ms).toFixed(2)}x better (aim: 2x)`,
  );
  mkdirSync('build/artifacts', { recursive: true });
  writeFileSync(
    `build/artifacts/adaptive-${scenario.name}.svg`,
    comparisonChart(runs, `${scenario.name} workload: p50 and p99 per placement`),
  );
  console.log(`chart: build/artifacts/adaptive-${scenario.name}.svg`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
