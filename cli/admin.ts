// The operator commands that talk to the control plane's admin API: deploy, rollback, migrate, status,
// endpoints, hosts, history. Tables for people by default, --json for scripts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { errorFromCode } from '../core/errors.ts';
import { type Command, parse, UsageError } from './args.ts';
import { DEFAULT_DATA_DIR } from './control-plane.ts';

const COMMON = {
  'control-plane': { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const COMMON_HELP = `  --control-plane URL   the admin API (default: $ROAM_CONTROL_PLANE or http://127.0.0.1:7900)
  --token TOKEN         admin token (default: $ROAM_TOKEN, or ${DEFAULT_DATA_DIR}/admin.token)
  --json                print JSON instead of a table`;

interface Common {
  'control-plane'?: string;
  token?: string;
  json?: boolean;
}

function token(values: Common): string {
  if (values.token) return values.token;
  if (process.env.ROAM_TOKEN) return process.env.ROAM_TOKEN;
  const file = join(DEFAULT_DATA_DIR, 'admin.token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new UsageError(
    'no admin token: pass --token, set $ROAM_TOKEN, or run where the control plane keeps its data',
  );
}

async function api(
  values: Common,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const base = values['control-plane'] ?? process.env.ROAM_CONTROL_PLANE ?? 'http://127.0.0.1:7900';
  const res = await request(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token(values)}`, 'content-type': 'application/json' },
    body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const out = (await res.body.json()) as Record<string, unknown>;
  if (res.statusCode >= 400)
    throw errorFromCode(String(out.error), String(out.message), out.endpoint as string | undefined);
  return out;
}

function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    Array.isArray(v) ? v.join(',') : v === undefined || v === null ? '' : String(v);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(width[i]!))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join(
    '\n',
  );
}

function print(values: Common, data: unknown, rows: () => Record<string, unknown>[]): void {
  console.log(values.json ? JSON.stringify(data, null, 2) : table(rows()));
}

function command(
  name: string,
  summary: string,
  args: string,
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>,
  run: (values: Record<string, unknown> & Common, positionals: string[]) => Promise<void>,
): Command {
  const usage = `Usage: roam ${name} ${args}\n\nOptions:\n${COMMON_HELP}`;
  return {
    name,
    summary,
    usage,
    async run(argv) {
      const { values, positionals } = parse(argv, { ...COMMON, ...options }, usage);
      if (values.help) {
        console.log(usage);
        return 0;
      }
      await run(values as Record<string, unknown> & Common, positionals);
      return 0;
    },
  };
}

export const deployCommand = command(
  'deploy',
  'upload a module and roll it out as a new version of an endpoint',
  'FILE.wasm --endpoint NAME [--route "GET /cart/*"]... [--pin-tier T] [--forbid-tier T]... [--require CAP]...',
  {
    endpoint: { type: 'string' },
    route: { type: 'string', multiple: true },
    'pin-tier': { type: 'string' },
    'forbid-tier': { type: 'string', multiple: true },
    require: { type: 'string', multiple: true },
  },
  async (values, [file]) => {
    if (!file) throw new UsageError('deploy needs the module file: roam deploy FILE.wasm --endpoint NAME');
    if (typeof values.endpoint !== 'string') throw new UsageError('deploy needs --endpoint NAME');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    const { digest } = (await api(values, 'POST', '/api/modules', bytes)) as { digest: string };
    const routes = (values.route as string[] | undefined)?.map((match) => ({ match }));
    const out = await api(values, 'POST', '/api/deploy', {
      endpoint: values.endpoint,
      digest,
      ...(routes ? { routes } : {}),
    });
    print(values, out, () => [
      { endpoint: out.endpoint, version: out.version, digest, placement: out.placement },
    ]);
  },
);

export const rollbackCommand = command(
  'rollback',
  'put a previous version of an endpoint back in force',
  'NAME [--to VERSION]',
  { to: { type: 'string' } },
  async (values, [name]) => {
    if (!name) throw new UsageError('rollback needs the endpoint name');
    const out = await api(values, 'POST', '/api/rollback', {
      endpoint: name,
      ...(values.to ? { to: Number(values.to) } : {}),
    });
    print(values, out, () => [out]);
  },
);

export const migrateCommand = command(
  'migrate',
  'move an endpoint to another host (make before break)',
  'NAME --to HOST',
  { to: { type: 'string', multiple: true } },
  async (values, [name]) => {
    const to = values.to as string[] | undefined;
    if (!name || !to) throw new UsageError('migrate needs NAME --to HOST');
    const out = await api(values, 'POST', '/api/migrate', { endpoint: name, to });
    print(values, out, () => [out]);
  },
);

type NodeRow = {
  id: string;
  kind: string;
  tier: string;
  status: string;
  address: string;
  appliedVersion: number;
};

export const statusCommand = command(
  'status',
  'nodes and whether they run the latest configuration',
  '',
  {},
  async (values) => {
    const out = (await api(values, 'GET', '/api/status')) as {
      nodes: (NodeRow & { desiredVersion: number; inSync: boolean; connected: boolean })[];
    };
    print(values, out, () =>
      out.nodes.map((n) => ({
        node: n.id,
        kind: n.kind,
        tier: n.tier,
        status: n.status,
        connected: n.connected,
        applied: n.appliedVersion,
        desired: n.desiredVersion,
        inSync: n.inSync,
      })),
    );
  },
);

export const endpointsCommand = command(
  'endpoints',
  'endpoints, their version in force and placement',
  '',
  {},
  async (values) => {
    const out = (await api(values, 'GET', '/api/endpoints')) as {
      endpoints: {
        name: string;
        version: number;
        digest: string;
        routes: { match: string }[];
        placement: string[];
      }[];
    };
    print(values, out, () =>
      out.endpoints.map((e) => ({
        endpoint: e.name,
        version: e.version,
        digest: `${e.digest.slice(0, 19)}…`,
        routes: e.routes.map((r) => r.match),
        placement: e.placement,
      })),
    );
  },
);

export const hostsCommand = command(
  'hosts',
  'proxies and hosts known to the control plane',
  '',
  {},
  async (values) => {
    const out = (await api(values, 'GET', '/api/hosts')) as {
      nodes: (NodeRow & {
        ready: string[];
        location: string;
        stores: { name: string; location: string }[];
      })[];
    };
    print(values, out, () =>
      out.nodes.map((n) => ({
        node: n.id,
        kind: n.kind,
        tier: n.tier,
        location: n.location,
        status: n.status,
        address: n.address,
        ready: n.ready.map((r) => r.split('@')[0]),
        stores: n.stores.map((st) => `${st.name}@${st.location}`),
      })),
    );
  },
);

export const historyCommand = command(
  'history',
  'every change, newest first',
  '[NAME]',
  {},
  async (values, [name]) => {
    const out = (await api(
      values,
      'GET',
      `/api/history${name ? `?endpoint=${encodeURIComponent(name)}` : ''}`,
    )) as {
      history: { id: number; at: string; action: string; endpoint: string | null; detail: unknown }[];
    };
    print(values, out, () =>
      out.history.map((h) => ({
        at: h.at,
        action: h.action,
        endpoint: h.endpoint ?? '',
        detail: JSON.stringify(h.detail),
      })),
    );
  },
);
