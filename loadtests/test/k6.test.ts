// The k6 rendering of the scenarios: options that keep the phases' open-loop schedule, and a script that
// typechecks against @types/k6, parses as an ES module once types are stripped, and imports nothing k6 lacks.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { k6Options } from '../k6/options.ts';
import { scenarioProblems } from '../scenario.ts';
import { scenarios } from '../scenarios/index.ts';
import { parseTargets, targetsFor } from '../targets.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'loadtests/k6/script.ts');

/** Every local file the script loads, and every bare module it asks for. */
function importGraph(entry: string): { files: string[]; modules: string[] } {
  const files = new Set<string>();
  const modules = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^import\s(?!type\b)[^;]*?from\s+'([^']+)'/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else modules.add(spec);
    }
  };
  visit(entry);
  return { files: [...files], modules: [...modules] };
}

describe('k6 rendering', () => {
  it('every shipped scenario is sound', () => {
    for (const s of Object.values(scenarios)) expect(scenarioProblems(s)).toEqual([]);
  });

  it('runs each phase as a constant-arrival-rate executor starting where the previous one ends', () => {
    const options = k6Options(scenarios.shifting!, { timeScale: 0.5, rateScale: 1 });
    const phases = Object.values(options.scenarios);
    expect(phases.map((p) => p.startTime)).toEqual(['0ms', '30000ms', '60000ms', '90000ms']);
    expect(phases.every((p) => p.executor === 'constant-arrival-rate' && p.exec === 'send')).toBe(true);
    expect(phases.map((p) => p.env.PHASE)).toEqual(['0', '1', '2', '3']);
    expect(phases[0]).toMatchObject({ duration: '30000ms', rate: 40, timeUnit: '1s' });
    const slow = k6Options(scenarios.steady!, { timeScale: 1, rateScale: 0.25 });
    expect(Object.values(slow.scenarios)[0]).toMatchObject({ rate: 450, timeUnit: '1m' });
  });

  it('fills targets per origin, a bare URL standing for the rest', () => {
    const t = parseTargets(['edge=http://127.0.0.1:7001/', 'http://127.0.0.1:7000']);
    expect(targetsFor(['device', 'edge'], t)).toEqual({
      device: 'http://127.0.0.1:7000',
      edge: 'http://127.0.0.1:7001',
    });
  });

  it('imports only k6 modules and local files k6 can load', () => {
    const { files, modules } = importGraph(SCRIPT);
    expect(modules.every((m) => m === 'k6' || m.startsWith('k6/'))).toBe(true);
    expect(files.map((f) => relative(ROOT, f)).sort()).toEqual([
      'loadtests/k6/options.ts',
      'loadtests/k6/script.ts',
      'loadtests/scenario.ts',
      'loadtests/scenarios/data-bound.ts',
      'loadtests/scenarios/index.ts',
      'loadtests/scenarios/shifting.ts',
      'loadtests/scenarios/shop.ts',
      'loadtests/scenarios/steady.ts',
      'loadtests/targets.ts',
    ]);
  });

  it('parses as ES modules once types are stripped, as k6 strips them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roam-k6-'));
    try {
      for (const file of importGraph(SCRIPT).files) {
        const out = join(dir, `${relative(ROOT, file).replaceAll('/', '_')}.mjs`);
        writeFileSync(out, stripTypeScriptTypes(readFileSync(file, 'utf8')));
        execFileSync(process.execPath, ['--check', out]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('typechecks against @types/k6', () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    expect(() =>
      execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'loadtests/k6/tsconfig.json')], {
        encoding: 'utf8',
      }),
    ).not.toThrow();
  });
});
