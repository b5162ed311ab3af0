// An operator command that cannot get an answer from the control plane says so in one line (what it tried,
// what happened, what to do) and exits 3, within its timeout; a refused token or a server that is not Roam's
// is one line and exit 1. No stack trace, no hang.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';

const ROAM = new URL('../bin/roam.ts', import.meta.url).pathname;

function roam(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [ROAM, ...args],
      { env: { ...process.env, ROAM_TOKEN: 't' } },
      (err, _out, stderr) => resolve({ code: err ? Number(err.code) : 0, stderr }),
    );
  });
}

const silent = net.createServer(() => {});
const answers = createServer((req, res) => {
  if (req.headers.authorization === 'Bearer t') {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'ROAM_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' }));
  } else {
    res.end('<html>not roam</html>');
  }
});
afterAll(() => {
  silent.close();
  answers.close();
});

async function port(server: net.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe('roam commands when the control plane cannot answer', () => {
  it('says the connection was refused, with the URL and what to do, and exits 3', async () => {
    // A port that was just free: nothing listens there.
    const probe = net.createServer();
    const url = `http://127.0.0.1:${await port(probe)}`;
    await new Promise<void>((r) => probe.close(() => r()));
    const { code, stderr } = await roam('status', '--control-plane', url);
    expect(code).toBe(3);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(url);
    expect(stderr).toMatch(/connection refused.*--control-plane/);
  });

  it('gives up on a control plane that never answers after its timeout, and exits 3', async () => {
    const url = `http://127.0.0.1:${await port(silent)}`;
    const { code, stderr } = await roam('endpoints', '--control-plane', url, '--timeout-ms', '500');
    expect(code).toBe(3);
    expect(stderr).toMatch(/no answer within 500 ms/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
  });

  it('says a refused token is a token problem, and that a server which is not Roam is not', async () => {
    const p = await port(answers);
    const refused = await roam('status', '--control-plane', `http://127.0.0.1:${p}`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused the admin token \(401\).*ROAM_TOKEN/);
    const other = await roam('status', '--control-plane', `http://127.0.0.1:${p}`, '--token', 'other');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/not the control plane's JSON/);
    expect(other.stderr.trim().split('\n')).toHaveLength(1);
  });
});
