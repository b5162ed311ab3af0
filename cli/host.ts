// `roam host`: a standalone Wasm host for one tier, serving the host API (docs/host-api.md) on --listen.
import { mkdirSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { DiscoveryClient, processLoad } from '../control-plane/client.ts';
import { reconcileHost } from '../control-plane/node-apply.ts';
import { parseHostPort } from '../core/http.ts';
import { startTelemetry } from '../core/telemetry.ts';
import { startNodeProfiling } from '../profiler/index.ts';
import { httpCaller } from '../wasm-host/http-caller.ts';
import { createStore, parseStoreFlag, TIERS, type Tier, WasmHost } from '../wasm-host/index.ts';
import { HostServer } from '../wasm-host/server.ts';
import { type Command, integerFlag, meshCaFlag, nodeCredentialFlag, parse, UsageError } from './args.ts';
import { onShutdown } from './lifecycle.ts';

const usage = `Usage: roam host --tier <${TIERS.join('|')}> --listen HOST:PORT [options]

Options:
  --tier TIER            which kind of host this is (required)
  --listen HOST:PORT     address of the host API (port 0 picks a free port)
  --id ID                host id (default: TIER-PORT)
  --location SITE        site label used to cost store access (default: the id)
  --exec inline|worker   default execution mode for endpoints (default: worker)
  --workers N            worker threads (default: number of CPUs)
  --timeout-ms MS        per-invocation deadline (default: 2000)
  --memory-pages N       per-instance memory limit in 64 KiB pages (default: 256)
  --store NAME=SPEC[@LOC] a data store on or reachable from this host; SPEC is memory, sqlite:PATH,
                         or http://HOST:PORT of the host that owns it (repeatable)
  --data-dir DIR         keep module blobs under DIR/modules
  --mesh URL             where the endpoints' calls to other endpoints go: a proxy
                         (http://HOST:PORT/.roam/call) or a host (http://HOST:PORT); without it,
                         calls reach only endpoints active on this host
  --token TOKEN          require this bearer token on admin routes (default: $ROAM_TOKEN)
  --profiling on|off     per-endpoint profiles, probes and their metrics (default: on)
  --report-interval-ms MS how often profiles are streamed to the control plane (default: 5000)
  --control-plane H:P    take assignments from the control plane's gRPC address; the host then runs only
                         the modules it is told to, and its upload and activation routes are closed
  --node-token TOKEN     this host's credential for the control plane (default: $ROAM_NODE_TOKEN)
  --token-file FILE      the credential read from FILE at every (re)connect and renewal: on Kubernetes the
                         pod's projected service-account token (default: $ROAM_NODE_TOKEN_FILE)
  --ca FILE              the mesh CA's certificate (the control plane's DATA_DIR/ca.pem; default: $ROAM_CA):
                         the control plane's TLS is checked against it; needed when it runs with mTLS on
  --stores-only          serve this host's stores to the mesh and run no endpoints: with --control-plane it
                         takes only its mesh certificate from the control plane (no assignments, and it is
                         no placement target)`;

export const hostCommand: Command = {
  name: 'host',
  summary: 'run a standalone Wasm host (in-process, cluster, edge or device tier)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        tier: { type: 'string' },
        listen: { type: 'string' },
        id: { type: 'string' },
        location: { type: 'string' },
        exec: { type: 'string' },
        workers: { type: 'string' },
        'timeout-ms': { type: 'string' },
        'memory-pages': { type: 'string' },
        store: { type: 'string', multiple: true },
        'data-dir': { type: 'string' },
        mesh: { type: 'string' },
        'stores-only': { type: 'boolean' },
        token: { type: 'string' },
        'control-plane': { type: 'string' },
        'node-token': { type: 'string' },
        'token-file': { type: 'string' },
        ca: { type: 'string' },
        profiling: { type: 'string' },
        'report-interval-ms': { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const tier = values.tier as Tier | undefined;
    if (!tier || !(TIERS as readonly string[]).includes(tier)) {
      throw new UsageError(`--tier must be one of ${TIERS.join(', ')}\n\n${usage}`);
    }
    if (!values.listen) throw new UsageError(`--listen HOST:PORT is required\n\n${usage}`);
    const exec = values.exec ?? 'worker';
    if (exec !== 'inline' && exec !== 'worker') throw new UsageError(`--exec must be inline or worker`);
    const listen = parseHostPort(values.listen, '--listen');
    const workers = integerFlag('--workers', values.workers);
    const timeoutMs = integerFlag('--timeout-ms', values['timeout-ms']);
    const memoryPages = integerFlag('--memory-pages', values['memory-pages']);
    const reportIntervalMs = integerFlag('--report-interval-ms', values['report-interval-ms']);
    const profilingOn = (values.profiling ?? 'on') === 'on';
    if (!profilingOn && values.profiling !== 'off') throw new UsageError('--profiling must be on or off');
    const token = values.token ?? process.env.ROAM_TOKEN;
    const id = values.id ?? `${tier}-${listen.port || process.pid}`;
    const location = values.location ?? id;
    const moduleDir = values['data-dir'] ? join(values['data-dir'], 'modules') : undefined;
    if (moduleDir) mkdirSync(moduleDir, { recursive: true });
    const stores = (values.store ?? []).map((flag) => createStore(parseStoreFlag(flag), location, token));
    const caller = values.mesh ? httpCaller(values.mesh) : undefined;

    const host = new WasmHost({
      id,
      tier,
      location,
      exec,
      stores,
      ...(caller ? { caller } : {}),
      ...(moduleDir ? { moduleDir } : {}),
      ...(workers ? { workers: { maxThreads: workers, minThreads: workers } } : {}),
      limits: { ...(timeoutMs ? { timeoutMs } : {}), ...(memoryPages ? { memoryPages } : {}) },
      log: (endpoint, level, message) =>
        console.error(
          JSON.stringify({ level: ['debug', 'info', 'warn', 'error'][level] ?? 'info', endpoint, message }),
        ),
    });
    const telemetry = await startTelemetry('roam-host');
    const profiling = profilingOn
      ? startNodeProfiling({
          node: { id, tier, site: location },
          host,
          stores,
          ...(reportIntervalMs ? { reportIntervalMs } : {}),
        })
      : undefined;
    const storesOnly = values['stores-only'] === true;
    // Uploads and activations are closed on a host the control plane manages, and on one that runs none.
    const managed = values['control-plane'] !== undefined || storesOnly;
    const server = new HostServer(host, {
      ...(token ? { token } : {}),
      metrics: telemetry.metricsHandler,
      managed,
    });
    const address = await server.listen(listen.port, listen.host);
    let discovery: DiscoveryClient | undefined;
    if (values['control-plane'] !== undefined) {
      const nodeToken = nodeCredentialFlag(values['node-token'], values['token-file']);
      if (!nodeToken)
        throw new UsageError(
          '--control-plane needs --node-token, --token-file, $ROAM_NODE_TOKEN or $ROAM_NODE_TOKEN_FILE',
        );
      const caFile = meshCaFlag(values.ca);
      const client: DiscoveryClient = new DiscoveryClient({
        address: values['control-plane']!,
        token: nodeToken,
        ...(caFile ? { caFile } : {}),
        ...(storesOnly ? { subscribe: false } : {}),
        node: {
          nodeId: id,
          kind: 'host',
          tier,
          location,
          address: `http://${address.address}:${address.port}`,
          cpuMillis: availableParallelism() * 1000,
          memoryMib: Math.round(totalmem() / 1024 / 1024),
          capabilities: stores.map((s) => `store:${s.name}`),
          stores: stores.map((s) => ({ name: s.name, location: s.location, kind: s.kind })),
        },
        apply: (snapshot) => reconcileHost(host, snapshot, (digest) => client.fetchModule(digest)),
        load: processLoad(() => host.stats().reduce((n, st) => n + st.inFlight, 0)),
        log: (event) => console.error(JSON.stringify(event)),
        ...(profiling ? { report: profiling.reporting } : {}),
      });
      discovery = client;
      client.start();
      // With mTLS on, a host that only serves stores answers other nodes once it holds its certificate.
      if (storesOnly) await client.identityReady;
    }
    // Handlers go in before the listening line: a supervisor may signal as soon as it reads it.
    const stopped = onShutdown(async () => {
      discovery?.close();
      profiling?.close();
      await server.close();
      await caller?.close();
      await host.close();
      await telemetry.shutdown();
    });
    console.log(
      JSON.stringify({
        event: 'listening',
        component: 'host',
        id,
        tier,
        address: `${address.address}:${address.port}`,
      }),
    );
    await stopped;
    return 0;
  },
};
