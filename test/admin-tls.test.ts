// The admin API over TLS (issue 17): `roam control-plane --admin-tls` serves it with the certificate the mesh
// CA issued the control plane, and the roam CLI checks it against the CA (--ca, $ROAM_CA, or the data
// directory's ca.pem); a CLI that cannot check it says so in one line.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../core/paths.ts';
import { startControlPlane } from './support/control-plane.ts';
import { type RoamProcess, stopAll } from './support/processes.ts';

const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'roam-admin-tls-'));
let cp: RoamProcess;
let token: string;

beforeAll(async () => {
  const started = await startControlPlane(dataDir, ['--admin-tls', '--placement-loop', 'off']);
  cp = started.process;
  token = started.adminToken;
}, 60_000);

afterAll(async () => {
  await stopAll();
  rmSync(dataDir, { recursive: true, force: true });
});

const roam = (...args: string[]) =>
  run(process.execPath, [join(ROOT, 'bin/roam.ts'), ...args], {
    timeout: 30_000,
    env: { ...process.env },
  }).then(
    (r) => ({ code: 0, ...r }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );

describe('admin API over TLS', () => {
  it('answers the CLI that checks it with the mesh CA, and the CLI without that CA is told what to pass', async () => {
    const url = `https://${cp.address}`;
    const ok = await roam(
      'status',
      '--control-plane',
      url,
      '--token',
      token,
      '--ca',
      join(dataDir, 'ca.pem'),
    );
    expect(ok, ok.stderr).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/NODE|\(none\)/);
    const plain = await roam('status', '--control-plane', `http://${cp.address}`, '--token', token);
    expect(plain.code).not.toBe(0);
    const unchecked = await roam(
      'status',
      '--control-plane',
      url,
      '--token',
      token,
      '--ca',
      join(ROOT, 'package.json'),
    );
    expect(unchecked.code).not.toBe(0);
    expect(unchecked.stderr.trim().split('\n')).toHaveLength(1);
  });
});
