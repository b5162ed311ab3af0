// Load-test-driven tuning on a whole local mesh: run a scenario against the mesh's entry proxies under a given
// placement strategy and summarise what it measured. Shared by `roam tune` and the adaptive-placement benchmark.
import type { Mesh } from '../cli/local-mesh.ts';
import { type RunSummary, summarize } from './compare.ts';
import { runScenario } from './runner.ts';
import type { Scenario } from './scenario.ts';

export async function placements(mesh: Mesh): Promise<Record<string, string[]>> {
  const { endpoints } = (await mesh.admin('GET', '/api/endpoints')) as {
    endpoints: { name: string; placement: string[] }[];
  };
  return Object.fromEntries(endpoints.map((e) => [e.name, e.placement]));
}

export async function setLoop(mesh: Mesh, action: 'pause' | 'resume'): Promise<void> {
  await mesh.admin('POST', '/api/loop', { action });
}

/** Waits until no migration is under way (each takes a second or two: the verify window). */
export async function settled(mesh: Mesh, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const { active } = (await mesh.admin('GET', '/api/migrations')) as { active: unknown[] };
    if (active.length === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('migrations did not settle');
}

/** The first phase of a scenario alone (what a static placement is tuned for). */
export function firstPhase(s: Scenario): Scenario {
  return { ...s, name: `${s.name}/${s.phases[0]!.name}`, phases: [s.phases[0]!] };
}

export async function measure(
  mesh: Mesh,
  label: string,
  scenario: Scenario,
  options: { timeScale: number; seed?: number },
): Promise<RunSummary> {
  const report = await runScenario(scenario, {
    targets: mesh.entries,
    timeScale: options.timeScale,
    seed: options.seed ?? 1,
  });
  return summarize(label, report, await placements(mesh));
}
