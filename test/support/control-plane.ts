// What tests and benchmarks that drive a real control plane share: starting one (with its admin token and the
// secret node tokens derive from), calling its admin API, and waiting for a condition.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { type RoamProcess, startRoam } from '../../cli/spawn.ts';
import { nodeToken } from '../../control-plane/auth.ts';
import { State } from '../../control-plane/state.ts';

// biome-ignore lint/suspicious/noExplicitAny: callers read the admin API's JSON loosely, field by field.
export type Json = any;

export type Admin = (
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
) => Promise<{ status: number; json: Json }>;

/** Calls the admin API at `url` with `token`; a Uint8Array body goes as is, anything else as JSON. */
export function adminClient(url: () => string, token: () => string): Admin {
  return async (method, path, body) => {
    const res = await request(`${url()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}` },
      body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
    });
    return { status: res.statusCode, json: await res.body.json() };
  };
}

export interface StartedControlPlane {
  process: RoamProcess;
  adminToken: string;
  /** Node tokens are derived from it (control-plane/auth.ts nodeToken). */
  secret: string;
}

/** `roam control-plane` on free ports (or those `args` name) keeping its state in `dataDir`. */
export async function startControlPlane(dataDir: string, args: string[] = []): Promise<StartedControlPlane> {
  const defaults = [
    ...(args.includes('--grpc') ? [] : ['--grpc', '127.0.0.1:0']),
    ...(args.includes('--admin') ? [] : ['--admin', '127.0.0.1:0']),
  ];
  const process = await startRoam(['control-plane', ...defaults, '--data-dir', dataDir, ...args]);
  const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const state = new State(dataDir);
  const secret = state.secret();
  state.close();
  return { process, adminToken, secret };
}

export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * What a node started against a control plane with mTLS on needs in its environment: its credential, and the
 * mesh CA (the control plane's DATA_DIR/ca.pem) it checks the control plane with.
 */
export function meshNodeEnv(secret: string, dataDir: string, id: string): Record<string, string> {
  return { ROAM_NODE_TOKEN: nodeToken(secret, id), ROAM_CA: join(dataDir, 'ca.pem') };
}

/**
 * A host serving `carts=memory` to the mesh and running no endpoints: a node for its certificate only, so every
 * hop to the store is mTLS like the rest (`roam host --stores-only`).
 */
export function startStoreHost(
  grpc: string,
  env: Record<string, string>,
  extra: string[] = [],
): Promise<RoamProcess> {
  return startRoam(
    [
      'host',
      '--tier',
      'cluster',
      '--id',
      'storage',
      '--listen',
      '127.0.0.1:0',
      '--store',
      'carts=memory',
      '--control-plane',
      grpc,
      '--stores-only',
      ...extra,
    ],
    env,
  );
}
