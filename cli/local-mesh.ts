// The shape of the local mesh `roam up` runs, worked out before anything starts: for each site of the topology
// a Wasm host of the site's tier and a sidecar proxy (requests from that site enter there, and its embedded
// in-process host runs endpoints placed inside it); a data-store server and the sample legacy service at the
// first cluster site; the control plane; and, in front of every node, the relay routes that make crossing
// sites pay the link's distance; then `startMesh` starts it, and keeps every process running (supervisor.ts).
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { nodeToken } from '../control-plane/auth.ts';
import { State } from '../control-plane/state.ts';
import { ROOT } from '../core/paths.ts';
import { loadTopology, type MeshNode, planRoutes, type Topology } from '../relay/index.ts';
import { UsageError } from './args.ts';
import { type RoamProcess, startRoam, startScript } from './spawn.ts';
import { type GaveUp, Supervisor } from './supervisor.ts';

export interface MeshProcess {
  /** Unique name: also the node id and the network-map file name. */
  name: string;
  site: string;
  role: 'control-plane' | 'store' | 'legacy' | 'host' | 'proxy';
  port: number;
  /** Proxies' admin listener. */
  adminPort?: number;
}

export interface MeshLayout {
  controlPlane: { adminPort: number; grpcPort: number };
  processes: MeshProcess[];
  /** The data stores the examples use; all live on the store server. */
  stores: string[];
  storeSite: string;
}

export const MESH_STORES = ['carts', 'catalog', 'orders'];

/** Assigns `ports` (as many as `portsNeeded(topology)`) to the mesh's processes, in a fixed order. */
export function layoutMesh(topology: Topology, ports: number[]): MeshLayout {
  const sites = Object.keys(topology.sites);
  const storeSite = sites.find((s) => topology.sites[s]!.tier === 'cluster') ?? sites[0]!;
  let next = 0;
  const take = () => {
    const p = ports[next++];
    if (p === undefined) throw new Error('layoutMesh: not enough ports');
    return p;
  };
  const controlPlane = { adminPort: take(), grpcPort: take() };
  const processes: MeshProcess[] = [
    { name: 'store', site: storeSite, role: 'store', port: take() },
    { name: 'legacy', site: storeSite, role: 'legacy', port: take() },
  ];
  for (const site of sites) processes.push({ name: `${site}-host`, site, role: 'host', port: take() });
  for (const site of sites)
    processes.push({ name: `${site}-proxy`, site, role: 'proxy', port: take(), adminPort: take() });
  return { controlPlane, processes, stores: MESH_STORES, storeSite };
}

export function portsNeeded(topology: Topology): number {
  return 4 + 3 * Object.keys(topology.sites).length;
}

/** The nodes the relay stands between (the control plane's gRPC is not relayed: it is not data-path traffic). */
export function relayNodes(layout: MeshLayout): MeshNode[] {
  return layout.processes
    .filter((p) => p.role !== 'legacy')
    .map((p) => ({ name: p.name, site: p.site, address: `127.0.0.1:${p.port}` }));
}

export function proxyOf(layout: MeshLayout, site: string): MeshProcess {
  return layout.processes.find((p) => p.role === 'proxy' && p.site === site)!;
}

/** The example endpoints with the routes they answer on. */
export const EXAMPLE_ROUTES: Record<string, string[]> = {
  hello: ['GET /hello'],
  cart: ['* /cart/*'],
  pricing: ['POST /pricing'],
  checkout: ['POST /checkout/{user}'],
  resize: ['POST /resize'],
};

/**
 * Stateless examples may run a replica per site that calls them, so each origin can be served where it
 * enters; the solver still decides whether a replica pays. Data-bound ones keep a single copy by their data.
 */
const EXAMPLE_POLICIES: Record<string, { maxReplicas: number }> = {
  hello: { maxReplicas: 3 },
  resize: { maxReplicas: 3 },
  pricing: { maxReplicas: 3 },
};

/**
 * The demo mesh is small and its workload shifts within a minute, so its nodes report every second and the
 * loop places from a 10 s profile window (the defaults, 5 s and 30 s, suit a production mesh's slower shifts).
 */
const MESH_REPORT_INTERVAL_MS = '1000';
const MESH_PROFILE_HALF_LIFE_MS = '10000';

const ENDPOINTS_DIR = join(ROOT, 'build/endpoints');
const LEGACY = join(ROOT, 'examples/legacy-service/server.ts');

/** Whether a loopback port can be bound now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = createServer();
    s.once('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}

/**
 * The first of `n` consecutive free loopback ports, none of them in `taken`, for a mesh that must know its
 * ports before anything starts and keep them across restarts (the relay's, `--base-port`, are consecutive).
 * Taken below Linux's ephemeral range (32768+), where the port 0 trick would land: there an outgoing
 * connection of any process may take a port between the check and the listen (seen as EADDRINUSE when meshes
 * started back to back).
 */
async function freePortRun(n: number, taken: number[] = []): Promise<number> {
  let first = 20_000 + Math.floor(Math.random() * 10_000);
  for (let tries = 0; tries < 2000; tries++) {
    if (first + n > 32_000) first = 20_000;
    let free = 0;
    while (free < n && !taken.includes(first + free) && (await bindable(first + free))) free++;
    if (free === n) return first;
    first += free + 1;
  }
  throw new Error(`found no ${n} consecutive free ports below 32000`);
}

async function adminCall(
  cp: RoamProcess,
  token: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  const res = await request(`${cp.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    body: body === undefined ? null : body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const json = (await res.body.json()) as Record<string, unknown>;
  if (res.statusCode >= 400) throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
  return json;
}

function nodeArgs(layout: MeshLayout, p: MeshProcess, grpc: string, mapsDir: string): string[] {
  const remoteStores = layout.stores.flatMap((s) => [
    '--store',
    `${s}=http://127.0.0.1:${layout.processes.find((x) => x.role === 'store')!.port}@${layout.storeSite}`,
  ]);
  const common = [
    '--id',
    p.name,
    '--location',
    p.site,
    '--listen',
    `127.0.0.1:${p.port}`,
    '--control-plane',
    grpc,
    '--network-map',
    join(mapsDir, `${p.name}.json`),
    '--report-interval-ms',
    MESH_REPORT_INTERVAL_MS,
    ...remoteStores,
  ];
  if (p.role === 'proxy') {
    const legacy = layout.processes.find((x) => x.role === 'legacy')!;
    return [
      'proxy',
      ...common,
      '--admin',
      `127.0.0.1:${p.adminPort}`,
      ...(p.site === layout.storeSite ? ['--upstream', `http://127.0.0.1:${legacy.port}`] : []),
    ];
  }
  const tier = p.site;
  return [
    'host',
    '--tier',
    tier,
    ...common,
    '--workers',
    '1',
    // Endpoint-to-endpoint calls go through the sidecar at the host's own site, which routes them on.
    '--mesh',
    `http://127.0.0.1:${proxyOf(layout, p.site).port}/.roam/call`,
  ];
}

export interface MeshOptions {
  topologyFile: string;
  /** 0: free ports. */
  basePort: number;
  dataDir: string;
  /** Control-plane flags, e.g. ["--placement-loop", "off"]. */
  controlPlaneArgs?: string[];
  /** Aborting it while the mesh starts stops what has started, and `startMesh` rejects. */
  signal?: AbortSignal;
}

export interface Mesh {
  layout: MeshLayout;
  topology: Topology;
  /** Where the control plane's admin API is; the same across its restarts. */
  controlPlane: { address: string; url: string };
  token: string;
  /** Origin site -> the URL of the proxy requests from there enter at. */
  entries: Record<string, string>;
  endpoints: string[];
  admin(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>>;
  /** Every process's current pid, by name ("control-plane", "relay", "edge-proxy", ...). */
  pids(): Record<string, number>;
  /** Settles when a process keeps dying and is no longer restarted (the rest of the mesh runs on). */
  failed: Promise<GaveUp>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the whole mesh and deploys the examples; on failure stops what it started and throws. Every process
 * is restarted with the same arguments if it dies: the control plane too, as its state is on disk and the
 * nodes resubscribe to it on their own.
 */
export async function startMesh(options: MeshOptions): Promise<Mesh> {
  let modules: { name: string; bytes: Uint8Array }[];
  try {
    modules = readdirSync(ENDPOINTS_DIR)
      .filter((f) => f.endsWith('.wasm') && EXAMPLE_ROUTES[f.slice(0, -5)])
      .map((f) => ({ name: f.slice(0, -5), bytes: readFileSync(join(ENDPOINTS_DIR, f)) }));
  } catch {
    throw new UsageError('no compiled endpoints in build/endpoints: run "npm run build" first');
  }
  const topology = loadTopology(options.topologyFile);
  const dataDir = resolve(options.dataDir);
  const mapsDir = join(dataDir, 'network');
  const storesDir = join(dataDir, 'stores');
  mkdirSync(storesDir, { recursive: true });
  const n = portsNeeded(topology);
  const { basePort } = options;
  const first = basePort === 0 ? await freePortRun(n) : basePort;
  const ports = Array.from({ length: n }, (_, i) => first + i);
  const layout = layoutMesh(topology, ports);
  const relayed = relayNodes(layout);
  const relayPorts = planRoutes(topology, relayed).length;
  // Fixed relay ports, so a restarted relay binds the ones the nodes' network maps name.
  const relayBase = basePort === 0 ? await freePortRun(relayPorts, ports) : basePort + 100;
  options.signal?.throwIfAborted();
  const supervisor = new Supervisor((event) => console.error(JSON.stringify(event)));
  const abort = () => void supervisor.stop('SIGKILL');
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    const cpDir = join(dataDir, 'control-plane');
    const cp = await supervisor.add('control-plane', () =>
      startRoam([
        'control-plane',
        '--admin',
        `127.0.0.1:${layout.controlPlane.adminPort}`,
        '--grpc',
        `127.0.0.1:${layout.controlPlane.grpcPort}`,
        '--data-dir',
        cpDir,
        '--profile-half-life-ms',
        MESH_PROFILE_HALF_LIFE_MS,
        ...(options.controlPlaneArgs ?? []),
      ]),
    );
    const grpc = cp.info.grpc as string;
    const token = readFileSync(join(cpDir, 'admin.token'), 'utf8').trim();
    const state = new State(cpDir);
    const secret = state.secret();
    state.close();
    await supervisor.add('relay', () =>
      startRoam([
        'relay',
        '--topology',
        options.topologyFile,
        '--maps-dir',
        mapsDir,
        '--base-port',
        String(relayBase),
        ...relayed.flatMap((node) => ['--node', `${node.name}=${node.site}@${node.address}`]),
      ]),
    );
    for (const p of layout.processes) {
      // Every node checks the control plane's TLS against the mesh CA it wrote on its first start.
      const env = { ROAM_NODE_TOKEN: nodeToken(secret, p.name), ROAM_CA: join(cpDir, 'ca.pem') };
      await supervisor.add(p.name, () => {
        if (p.role === 'legacy') return startScript(LEGACY, ['--listen', `127.0.0.1:${p.port}`]);
        if (p.role !== 'store') return startRoam(nodeArgs(layout, p, grpc, mapsDir), env);
        return startRoam(
          [
            'host',
            '--tier',
            'cluster',
            '--id',
            p.name,
            '--location',
            p.site,
            '--listen',
            `127.0.0.1:${p.port}`,
            ...layout.stores.flatMap((s) => ['--store', `${s}=sqlite:${join(storesDir, `${s}.db`)}`]),
            // A mesh node for its certificate only: the examples' stores, reached over mTLS like every hop.
            '--control-plane',
            grpc,
            '--stores-only',
          ],
          env,
        );
      });
    }
    const admin = (method: 'GET' | 'POST', path: string, body?: unknown) =>
      adminCall(cp, token, method, path, body);
    const nodes = layout.processes.filter((p) => p.role === 'host' || p.role === 'proxy').length;
    for (let i = 0; ; i++) {
      const status = await admin('GET', '/api/status');
      if ((status.nodes as unknown[]).length >= nodes) break;
      if (i > 400) throw new Error('the mesh nodes did not all subscribe to the control plane');
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const m of modules) {
      const { digest } = await admin('POST', '/api/modules', m.bytes);
      await admin('POST', '/api/deploy', {
        endpoint: m.name,
        digest,
        routes: EXAMPLE_ROUTES[m.name]!.map((match) => ({ match })),
        ...(EXAMPLE_POLICIES[m.name] ? { policy: EXAMPLE_POLICIES[m.name] } : {}),
      });
    }
    // Ready means ready to serve: every proxy routes every example (hosts fetched and warmed them first).
    for (const p of layout.processes.filter((x) => x.role === 'proxy')) {
      for (let i = 0; ; i++) {
        const res = await request(`http://127.0.0.1:${p.adminPort}/config`);
        const { config } = (await res.body.json()) as { config: { endpoints: Record<string, unknown> } };
        if (modules.every((m) => config.endpoints[m.name])) break;
        if (i > 400) throw new Error(`proxy ${p.name} did not get routes for every example endpoint`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const entries = Object.fromEntries(
      Object.keys(topology.sites).map((site) => [site, `http://127.0.0.1:${proxyOf(layout, site).port}`]),
    );
    return {
      layout,
      topology,
      controlPlane: { address: cp.address, url: cp.url },
      token,
      entries,
      endpoints: modules.map((m) => m.name),
      admin,
      pids: () => supervisor.pids(),
      failed: supervisor.failed,
      stop: (signal = 'SIGTERM') => supervisor.stop(signal),
    };
  } catch (err) {
    await supervisor.stop('SIGKILL');
    throw options.signal?.aborted ? options.signal.reason : err;
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}
