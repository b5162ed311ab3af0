// The operator commands that talk to the control plane's admin API: deploy, rollback, migrate, status,
// endpoints, hosts, history. Tables for people by default, --json for scripts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import {
  ConflictError,
  errorFromCode,
  type RoamError,
  UnauthorizedError,
  UnreachableError,
  UpstreamError,
} from '../core/errors.ts';
import { type Command, durationFlag, integerFlag, parse, UsageError } from './args.ts';
import { DEFAULT_DATA_DIR } from './control-plane.ts';

const COMMON = {
  'control-plane': { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  ca: { type: 'string' },
} as const;

const COMMON_HELP = `  --control-plane URL   the admin API (default: $ROAM_CONTROL_PLANE or http://127.0.0.1:7900)
  --token TOKEN         admin token (default: $ROAM_TOKEN, or ${DEFAULT_DATA_DIR}/admin.token)
  --json                print JSON instead of a table
  --timeout-ms MS       give up on the control plane after this long (default: 10000)
  --ca FILE             for an https:// admin API (--admin-tls): the mesh CA its certificate is checked
                        against (default: $ROAM_CA, or ${DEFAULT_DATA_DIR}/ca.pem)

Exit codes: 0 done, 1 the control plane refused or failed the request, 2 bad usage, 3 the control plane could
not be reached (or did not answer in time).`;

interface Common {
  'control-plane'?: string;
  token?: string;
  json?: boolean;
  'timeout-ms'?: string;
  ca?: string;
}

/** Why a request to the control plane got no answer, in words an operator can act on. */
function unreachable(url: string, err: unknown, timeoutMs: number): RoamError {
  const code = (err as { code?: string }).code ?? '';
  // The abort signal's timeout surfaces as a TimeoutError (or AbortError); undici's own as UND_ERR_*_TIMEOUT.
  const name = (err as Error).name;
  const what =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'host not found'
        : name === 'TimeoutError' ||
            name === 'AbortError' ||
            (code.startsWith('UND_ERR_') && code.endsWith('TIMEOUT'))
          ? `no answer within ${timeoutMs} ms`
          : code.startsWith('ERR_TLS') ||
              code.startsWith('ERR_SSL') ||
              /certificate|TLS|SSL/i.test(String(err))
            ? `TLS failed (${(err as Error).message})`
            : (err as Error).message || code;
  return new UnreachableError(
    `could not reach the control plane at ${url}: ${what}. Start it (\`npx roam control-plane\`, or \`npm start\` for a local mesh) or point --control-plane / $ROAM_CONTROL_PLANE at it`,
    { cause: err },
  );
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

let agent: Agent | undefined;

/**
 * For an https:// admin API: trust the mesh CA (the control plane serves it with a certificate the CA signed).
 * One per process (`migrate` polls); no keep-alive, so a finished command does not wait on an idle socket.
 */
function tlsAgent(values: Common): Agent | undefined {
  const file = values.ca ?? process.env.ROAM_CA ?? join(DEFAULT_DATA_DIR, 'ca.pem');
  if (!existsSync(file)) {
    if (values.ca ?? process.env.ROAM_CA) throw new UsageError(`--ca / $ROAM_CA: no file at ${file}`);
    return undefined;
  }
  agent ??= new Agent({ connect: { ca: readFileSync(file, 'utf8') }, pipelining: 0 });
  return agent;
}

async function api(
  values: Common,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const base = values['control-plane'] ?? process.env.ROAM_CONTROL_PLANE ?? 'http://127.0.0.1:7900';
  const timeoutMs = integerFlag('--timeout-ms', values['timeout-ms']) ?? 10_000;
  const url = `${base}${path}`;
  const dispatcher = base.startsWith('https:') ? tlsAgent(values) : undefined;
  let status: number;
  let text: string;
  try {
    const res = await request(url, {
      ...(dispatcher ? { dispatcher } : {}),
      method,
      headers: { authorization: `Bearer ${token(values)}`, 'content-type': 'application/json' },
      body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw unreachable(base, err, timeoutMs);
  }
  let out: Record<string, unknown>;
  try {
    out = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new UpstreamError(
      `${url} answered ${status} with a body that is not the control plane's JSON: is it a Roam control plane?`,
    );
  }
  if (status === 401) {
    throw new UnauthorizedError(
      `the control plane at ${base} refused the admin token (401): pass --token or set $ROAM_TOKEN (\`npx roam token\` prints it where the control plane keeps its data)`,
    );
  }
  if (status >= 400)
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
  /** The command's own options (listed above those every admin command takes) and what else to know. */
  help: { flags?: string; about?: string } = {},
): Command {
  const usage = [
    `Usage: roam ${name} ${args}`,
    ...(help.about ? ['', help.about] : []),
    '',
    'Options:',
    ...(help.flags ? [help.flags] : []),
    COMMON_HELP,
  ].join('\n');
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
  'FILE.wasm --endpoint NAME [--route "GET /cart/*"]... [--take-route] [--pin-tier T] [--forbid-tier T]... [--require CAP]... [--allow-caller id:NODE|site:S|tier:T]...',
  {
    endpoint: { type: 'string' },
    route: { type: 'string', multiple: true },
    'take-route': { type: 'boolean' },
    'pin-tier': { type: 'string' },
    'forbid-tier': { type: 'string', multiple: true },
    'allow-caller': { type: 'string', multiple: true },
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
    const policy = policyFlags(values);
    const out = await api(values, 'POST', '/api/deploy', {
      endpoint: values.endpoint,
      digest,
      ...(routes ? { routes } : {}),
      ...(values['take-route'] ? { takeRoute: true } : {}),
      ...(policy ? { policy } : {}),
    });
    print(values, out, () => [
      { endpoint: out.endpoint, version: out.version, digest, placement: out.placement },
    ]);
  },
);

/**
 * The endpoint policy the deploy flags ask for, or undefined when none is given (the policy in force stays).
 * `--allow-caller` takes `id:NODE` (or a SPIFFE ID), `site:NAME` or `tier:NAME`, repeatable.
 */
function policyFlags(values: Record<string, unknown>): Record<string, unknown> | undefined {
  const policy: Record<string, unknown> = {};
  if (typeof values['pin-tier'] === 'string') policy.pinnedTier = values['pin-tier'];
  if (values['forbid-tier']) policy.forbiddenTiers = values['forbid-tier'];
  if (values.require) policy.requires = values.require;
  const callers: Record<string, string[]> = {};
  for (const flag of (values['allow-caller'] as string[] | undefined) ?? []) {
    const m = /^(spiffe:\/\/.+)$|^(id|site|tier):(.+)$/.exec(flag);
    if (!m)
      throw new UsageError(
        `--allow-caller expects id:NODE, site:NAME, tier:NAME or a SPIFFE ID, got "${flag}"`,
      );
    const key = m[1] ? 'identities' : { id: 'identities', site: 'sites', tier: 'tiers' }[m[2]!]!;
    callers[key] = [...(callers[key] ?? []), m[1] ?? m[3]!];
  }
  if (Object.keys(callers).length > 0) policy.callers = callers;
  return Object.keys(policy).length > 0 ? policy : undefined;
}

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
  'move an endpoint to another host (make before break), pin it there, and wait for the outcome',
  'NAME --to HOST [--to HOST]... [--pin-for DURATION] [--force] [--no-wait]',
  {
    to: { type: 'string', multiple: true },
    wait: { type: 'boolean' },
    'no-wait': { type: 'boolean' },
    force: { type: 'boolean' },
    'pin-for': { type: 'string' },
  },
  async (values, [name]) => {
    const to = values.to as string[] | undefined;
    if (!name || !to) throw new UsageError('migrate needs NAME --to HOST');
    if (values.wait && values['no-wait']) throw new UsageError('migrate takes --wait or --no-wait, not both');
    const pinForMs = durationFlag('--pin-for', values['pin-for'] as string | undefined);
    const out = (await api(values, 'POST', '/api/migrate', {
      endpoint: name,
      to,
      ...(values.force ? { force: true } : {}),
      ...(pinForMs !== undefined ? { pinForMs } : {}),
    })) as {
      endpoint: string;
      placement: string[];
      migration: { id: number; step: string };
      pin: { until?: string } | null;
    };
    if (values['no-wait']) {
      print(values, out, () => [
        {
          endpoint: out.endpoint,
          to: out.placement,
          migration: out.migration.id,
          step: out.migration.step,
          pinned: pinned(out.pin),
        },
      ]);
      return;
    }
    await followMigration(values, name, out.migration.id, out.pin);
  },
  {
    flags: `  --to HOST             a host or proxy id to run NAME on (repeat it for replicas)
  --pin-for DURATION    how long the placement loop leaves NAME where you put it: 90s, 30m, 2h, 1d
                        (default: until \`roam resume NAME\`)
  --force               skip the verify step's regression check (a target that dies or a step that times
                        out still rolls the move back)
  --wait                wait for the outcome, printing each step as the control plane enters it (default)
  --no-wait             return as soon as the move has started`,
    about: `Your move wins over one the placement loop has in flight: the loop's move ends as "superseded" and yours starts
from where the endpoint safely runs. NAME stays pinned, even if the move rolls back, until the pin expires or
\`roam resume NAME\`; \`roam endpoints\` shows pins. A move that rolls back exits 1 with the reason and the
figures that caused it.`,
  },
);

/** How a pin reads in a table: until when it holds, or until `roam resume`. */
function pinned(pin: { until?: string } | null | undefined): string {
  if (!pin) return '';
  return pin.until ? `until ${pin.until}` : 'until resumed';
}

interface MigrationView {
  id: number;
  steps: { step: string; atMs: number }[];
  outcome?: 'done' | 'rolled-back' | 'superseded';
  why?: string;
  timings: Record<string, number>;
}

/**
 * Prints each step of migration `id` as the control plane enters it, then its outcome; a move that was rolled
 * back fails the command (exit 1) with the reason. Ctrl-C stops the waiting, not the move.
 */
async function followMigration(
  values: Common,
  endpoint: string,
  id: number,
  pin: { until?: string } | null,
): Promise<void> {
  const release = pin
    ? `${endpoint} is pinned ${pinned(pin)}: \`roam resume ${endpoint}\` hands it back to the placement loop`
    : '';
  let shown = 0;
  if (!values.json) console.log(`migration ${id} of ${endpoint}:`);
  for (;;) {
    const list = (await api(values, 'GET', '/api/migrations')) as {
      active: MigrationView[];
      recent: MigrationView[];
    };
    const m = list.active.find((x) => x.id === id) ?? list.recent.find((x) => x.id === id);
    if (m) {
      if (!values.json)
        for (const s of m.steps.slice(shown))
          console.log(`  ${(s.atMs / 1000).toFixed(2).padStart(7)} s  ${s.step}`);
      shown = m.steps.length;
      if (m.outcome === 'done') {
        print(values, m, () => [{ endpoint, migration: id, outcome: 'done', ms: m.timings.done ?? '' }]);
        if (!values.json && release) console.log(release);
        return;
      }
      if (m.outcome === 'rolled-back' || m.outcome === 'superseded') {
        if (values.json) console.log(JSON.stringify(m, null, 2));
        const what = m.outcome === 'rolled-back' ? 'rolled back' : 'superseded';
        throw new ConflictError(
          `the move of ${endpoint} was ${what}: ${m.why ?? 'no reason recorded'}` +
            (release ? `; it stays where it was. ${release}` : ''),
          { endpoint },
        );
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

type LayoutRow = { hosts: string[]; weights?: Record<string, Record<string, number>> };
const layout = (l: LayoutRow) => l.hosts.join(',') || '-';

export const planCommand = command(
  'plan',
  'what the placement loop would do now, without doing it',
  '',
  {},
  async (values) => {
    const out = (await api(values, 'GET', '/api/plan')) as {
      proposals: {
        endpoint: string;
        from: LayoutRow;
        to: LayoutRow;
        predictedGain: number;
        verdict: string;
      }[];
    };
    print(values, out, () =>
      out.proposals.map((p) => ({
        endpoint: p.endpoint,
        from: layout(p.from),
        to: layout(p.to),
        gain: p.predictedGain.toFixed(1),
        verdict: p.verdict,
      })),
    );
  },
);

function loopCommand(name: 'pause' | 'resume', summary: string): Command {
  return command(name, summary, '[ENDPOINT]', {}, async (values, [endpoint]) => {
    const out = (await api(values, 'POST', '/api/loop', {
      action: name,
      ...(endpoint ? { endpoint } : {}),
    })) as {
      paused: { all: boolean; endpoints: string[] };
      pins: Record<string, unknown>;
    };
    print(values, out, () => [
      { all: out.paused.all, paused: out.paused.endpoints, pinned: Object.keys(out.pins) },
    ]);
  });
}

export const pauseCommand = loopCommand('pause', 'stop the placement loop moving one endpoint, or any');
export const resumeCommand = loopCommand(
  'resume',
  'let the placement loop move an endpoint again (lifting its pause and its pin), or all endpoints',
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
      nodes: (NodeRow & {
        desiredVersion: number;
        inSync: boolean;
        connected: boolean;
        certExpires: string | null;
      })[];
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
        // Empty while mTLS is off (no certificate was issued to the node).
        certExpires: n.certExpires ?? '',
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
        pin: { until?: string } | null;
      }[];
    };
    print(values, out, () =>
      out.endpoints.map((e) => ({
        endpoint: e.name,
        version: e.version,
        digest: `${e.digest.slice(0, 19)}…`,
        routes: e.routes.map((r) => r.match),
        placement: e.placement,
        pinned: pinned(e.pin),
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
    const decisions = (await api(
      values,
      'GET',
      `/api/decisions${name ? `?endpoint=${encodeURIComponent(name)}` : ''}`,
    )) as {
      decisions: {
        at: string;
        endpoint: string;
        trigger: string;
        from: LayoutRow;
        to: LayoutRow;
        predictedGain: number;
        measuredGainMs?: number;
        status: string;
        why?: string;
      }[];
    };
    if (values.json) {
      console.log(JSON.stringify({ ...out, ...decisions }, null, 2));
      return;
    }
    if (decisions.decisions.length > 0) {
      console.log('Placement decisions');
      console.log(
        table(
          decisions.decisions.map((d) => ({
            at: d.at,
            endpoint: d.endpoint,
            trigger: d.trigger,
            from: layout(d.from),
            to: layout(d.to),
            predicted: d.predictedGain.toFixed(1),
            measuredMs: d.measuredGainMs === undefined ? '' : d.measuredGainMs.toFixed(2),
            status: d.status,
            why: d.why ?? '',
          })),
        ),
      );
      console.log('\nChanges');
    }
    console.log(
      table(
        out.history.map((h) => ({
          at: h.at,
          action: h.action,
          endpoint: h.endpoint ?? '',
          detail: JSON.stringify(h.detail),
        })),
      ),
    );
  },
);

interface ProfileView {
  endpoint: string;
  legacy: boolean;
  requestsPerSecond: number;
  errorRate: number;
  latencyMs: { p50: number; p90: number; p99: number };
  meanRequestBytes: number;
  meanResponseBytes: number;
  origins: {
    site: string;
    requestsPerSecond: number;
    errorRate: number;
    latencyMs: { p50: number; p99: number };
  }[];
  hosts: {
    host: string;
    tier: string;
    site: string;
    invocationsPerSecond: number;
    latencyMs: { p50: number; p99: number };
    cpuMsPerCall: number | null;
    memoryBytes: number;
  }[];
  stores: { store: string; accessesPerRequest: number; bytesPerRequest: number; rttMs: number }[];
  callees: { endpoint: string; callsPerRequest: number; bytesPerCall: number; meanMs: number }[];
}

const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const percent = (n: number) => `${(n * 100).toFixed(1)}%`;

/** One endpoint's profile as sections of tables: summary, origins, hosts, data stores, callees. */
function profileTables(p: ProfileView): string {
  const section = (title: string, rows: Record<string, unknown>[]) => `\n${title}\n${table(rows)}`;
  return [
    table([
      {
        endpoint: p.endpoint,
        legacy: p.legacy,
        'req/s': fixed(p.requestsPerSecond),
        errors: percent(p.errorRate),
        'p50 ms': fixed(p.latencyMs.p50, 3),
        'p90 ms': fixed(p.latencyMs.p90, 3),
        'p99 ms': fixed(p.latencyMs.p99, 3),
        'req bytes': fixed(p.meanRequestBytes, 0),
        'resp bytes': fixed(p.meanResponseBytes, 0),
      },
    ]),
    section(
      'Origins',
      p.origins.map((o) => ({
        site: o.site,
        'req/s': fixed(o.requestsPerSecond),
        errors: percent(o.errorRate),
        'p50 ms': fixed(o.latencyMs.p50, 3),
        'p99 ms': fixed(o.latencyMs.p99, 3),
      })),
    ),
    section(
      'Hosts',
      p.hosts.map((h) => ({
        host: h.host,
        tier: h.tier,
        site: h.site,
        'calls/s': fixed(h.invocationsPerSecond),
        'p50 ms': fixed(h.latencyMs.p50, 3),
        'p99 ms': fixed(h.latencyMs.p99, 3),
        'cpu ms/call': h.cpuMsPerCall === null ? '-' : fixed(h.cpuMsPerCall, 3),
        'memory KiB': fixed(h.memoryBytes / 1024, 0),
      })),
    ),
    section(
      'Data stores',
      p.stores.map((s) => ({
        store: s.store,
        'accesses/req': fixed(s.accessesPerRequest),
        'bytes/req': fixed(s.bytesPerRequest, 0),
        'rtt ms': fixed(s.rttMs, 3),
      })),
    ),
    section(
      'Calls',
      p.callees.map((c) => ({
        callee: c.endpoint,
        'calls/req': fixed(c.callsPerRequest),
        'bytes/call': fixed(c.bytesPerCall, 0),
        'mean ms': fixed(c.meanMs, 3),
      })),
    ),
  ].join('\n');
}

export const profileCommand = command(
  'profile',
  'per-endpoint profiles: rate by origin, latency, cost, data access, calls',
  '[ENDPOINT]',
  {},
  async (values, [name]) => {
    if (name !== undefined) {
      const out = (await api(values, 'GET', `/api/profiles/${encodeURIComponent(name)}`)) as {
        profile: ProfileView;
      };
      console.log(values.json ? JSON.stringify(out, null, 2) : profileTables(out.profile));
      return;
    }
    const out = (await api(values, 'GET', '/api/profiles')) as { profiles: ProfileView[] };
    print(values, out, () =>
      out.profiles.map((p) => ({
        endpoint: p.endpoint,
        legacy: p.legacy,
        'req/s': fixed(p.requestsPerSecond),
        errors: percent(p.errorRate),
        'p50 ms': fixed(p.latencyMs.p50, 3),
        'p99 ms': fixed(p.latencyMs.p99, 3),
        origins: p.origins.map((o) => `${o.site}:${fixed(o.requestsPerSecond, 1)}`),
        hosts: p.hosts.map((h) => `${h.host}(${h.tier})`),
        stores: p.stores.map((s) => `${s.store}:${fixed(s.accessesPerRequest, 1)}/req`),
        calls: p.callees.map((c) => `${c.endpoint}:${fixed(c.callsPerRequest, 1)}/req`),
      })),
    );
  },
);
