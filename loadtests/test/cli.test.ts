// `roam load` as a user runs it: a real process against a loopback server, a table on stdout, a JSON report.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServer, listenOn } from '../../core/http.ts';
import type { LoadReport } from '../runner.ts';

const ROAM = new URL('../../bin/roam.ts', import.meta.url).pathname;
const run = promisify(execFile);

async function roam(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [ROAM, ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('roam load', () => {
  const server = createServer((req, res) => {
    req.resume();
    res.statusCode = req.url!.startsWith('/checkout') ? 201 : 200;
    res.end('ok');
  });
  let url: string;
  let dir: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${(await listenOn(server, 0, '127.0.0.1')).port}`;
    dir = mkdtempSync(join(tmpdir(), 'roam-load-'));
  });
  afterAll(async () => {
    await closeServer(server, false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a scenario, prints the table and writes the report', async () => {
    const file = join(dir, 'steady.json');
    const out = await roam([
      'load',
      '--scenario',
      'steady',
      '--target',
      url,
      '--time-scale',
      '0.01',
      '--report',
      file,
    ]);
    expect(out.stderr).toContain('phase 1/1: steady');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^\(all\)\s+hello\s+\d+/m);
    const report = JSON.parse(readFileSync(file, 'utf8')) as LoadReport;
    expect(report.scenario).toBe('steady');
    expect(Object.keys(report.phases[0]!.origins).sort()).toEqual(['cluster', 'device', 'edge']);
    expect(Object.values(report.total).reduce((n, s) => n + s.count, 0)).toBe(36);
  });

  it('refuses an unknown scenario or a missing target by name', async () => {
    const unknown = await roam(['load', '--scenario', 'nope', '--target', url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--scenario expects one of shifting, data-bound, steady, got "nope"');
    const missing = await roam(['load', '--scenario', 'shifting', '--target', `edge=${url}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no target for origin "device", "cluster"');
  });
});
