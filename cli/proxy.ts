// `roam proxy`: the sidecar. Passes through to --upstream whatever no route claims, dispatches endpoints
// wherever the route table (--routes FILE, or later the control plane) says they live.
import type { DiscoveryClient } from '../control-plane/client.ts';
import { parseHostPort } from '../core/http.ts';
import { startTelemetry } from '../core/telemetry.ts';
import { startNodeProfiling } from '../profiler/index.ts';
import { AdminServer, loadRouteFile, type ProxyLimits, SidecarProxy } from '../proxy/index.ts';
import { createStore, parseStoreFlag, WasmHost } from '../wasm-host/index.ts';
import { type Command, integerFlag, meshCaFlag, nodeCredentialFlag, parse, UsageError } from './args.ts';
import { onShutdown } from './lifecycle.ts';

const usage = `Usage: roam proxy --listen HOST:PORT [--upstream URL] [--admin HOST:PORT] [options]

Options:
  --listen HOST:PORT      inbound listener, HTTP/1.1 and HTTP/2 cleartext (port 0 picks a free port)
  --upstream URL          the service this sidecar fronts (http://HOST:PORT); unrouted requests go there
  --admin HOST:PORT       admin listener: /healthz /readyz /config /stats /metrics
  --routes FILE           route table as JSON (docs/proxy.md), when running without a control plane
  --id ID                 proxy id (default: proxy-PORT)
  --location SITE         the site this proxy (and its embedded in-process host) runs at: requests that
                          enter here come from this origin (default: the id)
  --store NAME=SPEC[@LOC] a data store for endpoints run in-process (repeatable; see roam host --help)
  --exec inline|worker    how the embedded host runs endpoints (default: inline)
  --drain-timeout-ms MS   on SIGTERM, how long in-flight requests may take to finish (default: 15000)
  --headers-timeout-ms MS time a client has to send its request head (default: 10000)
  --request-timeout-ms MS time a client has to send its whole request (default: 60000)
  --keep-alive-timeout-ms MS  an idle client connection is closed after this (default: 65000)
  --idle-timeout-ms MS    a request in progress that moves no byte for this long is cut (default: 300000)
  --max-body-bytes N      largest request body an endpoint accepts (default: 8 MiB)
  --max-connections N     inbound connections open at once (default: 10000)
  --max-concurrent-streams N  HTTP/2 streams open at once per connection (default: 100)
  --max-upstream-connections N  connections to the upstream service (default: 1024)
  --max-upstream-per-client N   passthrough requests in flight per client address (default: 512)
  --upstream-headers-timeout-ms MS  time the upstream has to start answering, gRPC aside (default: 60000)
  --upstream-body-timeout-ms MS     longest silence within an upstream answer, gRPC aside (default: 60000)
  --fast-path on|off      plain HTTP/1.1 passthrough on raw connections, not Node's HTTP server and undici
                          (default: on; docs/proxy.md "The passthrough fast path")
  --profiling on|off      per-endpoint profiles, probes and their metrics (default: on)
  --report-interval-ms MS how often profiles are streamed to the control plane (default: 5000)
  --control-plane H:P     take routes from the control plane's gRPC address (instead of --routes)
  --node-token TOKEN      this proxy's credential for the control plane (default: $ROAM_NODE_TOKEN)
  --token-file FILE       the credential read from FILE at every (re)connect and renewal: on Kubernetes the
                          pod's projected service-account token (default: $ROAM_NODE_TOKEN_FILE)
  --ca FILE               the mesh CA's certificate (the control plane's DATA_DIR/ca.pem; default: $ROAM_CA):
                          the control plane's TLS is checked against it; needed when it runs with mTLS on`;

/** Flags that set a limit of the proxy (docs/proxy.md lists each with its default). */
const LIMIT_FLAGS = [
  ['drain-timeout-ms', 'drainTimeoutMs'],
  ['headers-timeout-ms', 'headersTimeoutMs'],
  ['request-timeout-ms', 'requestTimeoutMs'],
  ['keep-alive-timeout-ms', 'keepAliveTimeoutMs'],
  ['idle-timeout-ms', 'idleTimeoutMs'],
  ['max-body-bytes', 'maxBodyBytes'],
  ['max-connections', 'maxConnections'],
  ['max-concurrent-streams', 'maxConcurrentStreams'],
  ['max-upstream-connections', 'maxUpstreamConnections'],
  ['max-upstream-per-client', 'maxUpstreamPerClient'],
  ['upstream-headers-timeout-ms', 'upstreamHeadersTimeoutMs'],
  ['upstream-body-timeout-ms', 'upstreamBodyTimeoutMs'],
] as const satisfies readonly (readonly [string, keyof ProxyLimits])[];

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'run the sidecar proxy in front of a service',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        listen: { type: 'string' },
        upstream: { type: 'string' },
        admin: { type: 'string' },
        routes: { type: 'string' },
        id: { type: 'string' },
        location: { type: 'string' },
        store: { type: 'string', multiple: true },
        exec: { type: 'string' },
        'drain-timeout-ms': { type: 'string' },
        'headers-timeout-ms': { type: 'string' },
        'request-timeout-ms': { type: 'string' },
        'max-body-bytes': { type: 'string' },
        'keep-alive-timeout-ms': { type: 'string' },
        'idle-timeout-ms': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-concurrent-streams': { type: 'string' },
        'max-upstream-connections': { type: 'string' },
        'max-upstream-per-client': { type: 'string' },
        'upstream-headers-timeout-ms': { type: 'string' },
        'upstream-body-timeout-ms': { type: 'string' },
        'control-plane': { type: 'string' },
        'node-token': { type: 'string' },
        'token-file': { type: 'string' },
        ca: { type: 'string' },
        profiling: { type: 'string' },
        'fast-path': { type: 'string' },
        'report-interval-ms': { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    if (!values.listen) throw new UsageError(`--listen HOST:PORT is required\n\n${usage}`);
    const listen = parseHostPort(values.listen, '--listen');
    const admin = values.admin ? parseHostPort(values.admin, '--admin') : undefined;
    if (values.upstream) {
      try {
        new URL(values.upstream);
      } catch {
        throw new UsageError(`--upstream expects a URL like http://127.0.0.1:8080, got "${values.upstream}"`);
      }
    }
    const exec = values.exec ?? 'inline';
    if (exec !== 'inline' && exec !== 'worker') throw new UsageError('--exec must be inline or worker');
    const limits: Partial<ProxyLimits> = {};
    for (const [flag, key] of LIMIT_FLAGS) {
      const n = integerFlag(`--${flag}`, values[flag]);
      if (n !== undefined) limits[key] = n;
    }
    const reportIntervalMs = integerFlag('--report-interval-ms', values['report-interval-ms']);
    const profilingOn = (values.profiling ?? 'on') === 'on';
    if (!profilingOn && values.profiling !== 'off') throw new UsageError('--profiling must be on or off');
    const fastPath = values['fast-path'] ?? 'on';
    if (fastPath !== 'on' && fastPath !== 'off') throw new UsageError('--fast-path must be on or off');
    const id = values.id ?? `proxy-${listen.port || process.pid}`;
    const location = values.location ?? id;
    const telemetry = await startTelemetry('roam-proxy');
    const stores = (values.store ?? []).map((f) => createStore(parseStoreFlag(f), location));
    const host = new WasmHost({ id, tier: 'in-process', location, exec, stores });
    const profiling = profilingOn
      ? startNodeProfiling({
          node: { id, tier: 'in-process', site: location },
          host,
          stores,
          ...(reportIntervalMs ? { reportIntervalMs } : {}),
        })
      : undefined;
    const proxy = new SidecarProxy({
      id,
      host,
      ...(profiling ? { recorder: profiling.profiler } : {}),
      ...(values.upstream ? { upstream: values.upstream } : {}),
      limits,
      fastPath: fastPath === 'on',
    });
    if (values.routes) await proxy.applyRoutes(loadRouteFile(values.routes, host.modules));
    const address = await proxy.listen(listen.port, listen.host);
    let discovery: DiscoveryClient | undefined;
    if (values['control-plane']) {
      const nodeToken = nodeCredentialFlag(values['node-token'], values['token-file']);
      if (!nodeToken)
        throw new UsageError(
          '--control-plane needs --node-token, --token-file, $ROAM_NODE_TOKEN or $ROAM_NODE_TOKEN_FILE',
        );
      const caFile = meshCaFlag(values.ca);
      // gRPC and the discovery client are loaded only by a proxy that has a control plane to talk to.
      const [{ DiscoveryClient, processLoad }, { applyToProxy }] = await Promise.all([
        import('../control-plane/client.ts'),
        import('../control-plane/node-apply.ts'),
      ]);
      const client: DiscoveryClient = new DiscoveryClient({
        address: values['control-plane'],
        token: nodeToken,
        ...(caFile ? { caFile } : {}),
        node: {
          nodeId: id,
          kind: 'proxy',
          tier: 'in-process',
          location,
          address: `http://${address.address}:${address.port}`,
          // The embedded host shares the proxy's process: it offers one core and a slice of memory.
          cpuMillis: 1000,
          memoryMib: 256,
          capabilities: stores.map((s) => `store:${s.name}`),
          stores: stores.map((s) => ({ name: s.name, location: s.location, kind: s.kind })),
        },
        apply: (snapshot) => applyToProxy(proxy, snapshot, (digest) => client.fetchModule(digest)),
        load: processLoad(() => proxy.inFlightRequests),
        log: (event) => console.error(JSON.stringify(event)),
        ...(profiling ? { report: profiling.reporting } : {}),
      });
      discovery = client;
      client.start();
    }
    const adminServer = admin ? new AdminServer(proxy, telemetry.metricsHandler) : undefined;
    const adminAddress = admin ? await adminServer!.listen(admin.port, admin.host) : undefined;
    // Handlers go in before the listening line: a supervisor may signal as soon as it reads it.
    const stopped = onShutdown(async () => {
      discovery?.close();
      profiling?.close();
      const { drained } = await proxy.drain();
      await adminServer?.close();
      await telemetry.shutdown();
      console.error(JSON.stringify({ event: 'stopped', drained }));
    });
    console.log(
      JSON.stringify({
        event: 'listening',
        component: 'proxy',
        id,
        address: `${address.address}:${address.port}`,
        ...(adminAddress ? { admin: `${adminAddress.address}:${adminAddress.port}` } : {}),
        routeVersion: proxy.routeTable.version,
      }),
    );
    await stopped;
    return 0;
  },
};
