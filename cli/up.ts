// `roam up` (what `npm start` runs): a whole mesh on this machine as separate processes. A control plane with
// its embedded store and placement loop; per site of the topology a Wasm host and a sidecar proxy; a data-store
// server and the sample legacy service (behind the cluster sidecar) at the cluster site; a relay that makes
// every byte between sites pay the link's distance; the example endpoints deployed; and a traffic generator
// running a workload that shifts over time, so placements visibly move. A process that dies is restarted,
// and one that keeps dying stops the mesh (local-mesh.ts, supervisor.ts). Ctrl-C stops everything.
import { resolve } from 'node:path';
import { runScenario } from '../loadtests/runner.ts';
import { scenarios } from '../loadtests/scenarios/index.ts';
import { DEFAULT_TOPOLOGY_FILE } from '../relay/index.ts';
import { type Command, parse, UsageError } from './args.ts';
import { onShutdown } from './lifecycle.ts';
import { type Mesh, startMesh } from './local-mesh.ts';
import { claimDataDir } from './mesh-lock.ts';

const usage = `Usage: roam up [options]

Starts a local mesh: a control plane (with its dashboard and placement loop), a Wasm host and a sidecar proxy
per site of the topology, a data-store server and a sample legacy service at the cluster site, a relay that
emulates the network between sites, the example endpoints, and a traffic generator whose workload moves
between sites. Build the endpoints first ("npm run build"; "npm start" does both).

Options:
  --topology FILE     sites and links (default: relay/default-topology.json: device, edge, cluster)
  --base-port N       ports N, N+1, ... for the mesh (the control plane's admin API on N), N+100, ... for the
                      relay (default: 7900, so "npx roam status" and friends find it; 0: free ports)
  --data-dir DIR      control-plane state (DIR/control-plane, where the roam CLI looks for the admin
                      token), data stores and network maps (default: .roam)
  --scenario NAME     the traffic generator's workload, looped (default: shifting; see loadtests/)
  --no-traffic        start no traffic generator`;

export const upCommand: Command = {
  name: 'up',
  summary: 'run a whole local mesh on this machine (what `npm start` runs)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        topology: { type: 'string' },
        'base-port': { type: 'string' },
        'data-dir': { type: 'string' },
        scenario: { type: 'string' },
        'no-traffic': { type: 'boolean' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const basePort = Number(values['base-port'] ?? 7900);
    if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65000)
      throw new UsageError(`--base-port expects a port number, got "${values['base-port']}"`);
    const scenarioName = values.scenario ?? 'shifting';
    const scenario = scenarios[scenarioName];
    if (!scenario)
      throw new UsageError(
        `--scenario: no scenario "${scenarioName}" (have: ${Object.keys(scenarios).join(', ')})`,
      );
    const topologyFile = values.topology ?? DEFAULT_TOPOLOGY_FILE;
    const dataDir = resolve(values['data-dir'] ?? '.roam');
    const release = claimDataDir(dataDir);
    // Aborted on Ctrl-C (or a crash loop): ends the mesh's start if it is still starting, and the traffic.
    const shutdown = new AbortController();
    let trafficDone: Promise<void> = Promise.resolve();
    let mesh: Mesh | undefined;
    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        shutdown.abort();
        await trafficDone;
        await mesh?.stop('SIGTERM');
        release();
      })());
    const stopped = onShutdown(stop);
    try {
      mesh = await startMesh({ topologyFile, basePort, dataDir, signal: shutdown.signal });
    } catch (err) {
      // Ctrl-C while the mesh was starting: startMesh has stopped what it started.
      if (!shutdown.signal.aborted) throw err;
      await stopped;
      return 0;
    }
    const { controlPlane: cp, token, entries } = mesh;
    if (!values['no-traffic']) {
      trafficDone = (async () => {
        while (!shutdown.signal.aborted) {
          await runScenario(scenario, { targets: entries, signal: shutdown.signal }).catch((err) => {
            if (!shutdown.signal.aborted) console.error(`traffic generator: ${(err as Error).message}`);
          });
        }
      })();
    }
    const dashboard = `${cp.url}/dashboard?token=${token}`;
    console.log(
      JSON.stringify({
        event: 'listening',
        component: 'mesh',
        address: cp.address,
        dashboard,
        proxies: entries,
        stores: `http://127.0.0.1:${mesh.layout.processes.find((p) => p.role === 'store')!.port}`,
        pids: mesh.pids(),
      }),
    );
    console.log(`\nRoam local mesh is up (${topologyFile}).`);
    console.log(`  dashboard      ${dashboard}`);
    for (const [site, url] of Object.entries(entries)) console.log(`  ${`${site} proxy`.padEnd(14)} ${url}`);
    const cluster = entries[mesh.layout.storeSite];
    console.log(`\nEndpoints: ${mesh.endpoints.join(', ')}. Try:`);
    console.log(`  curl '${cluster}/hello?name=you'`);
    console.log(`  curl -X POST '${cluster}/cart/ada/items' -d 'sku=book&qty=2'`);
    console.log(`  curl -X POST '${cluster}/checkout/ada'`);
    console.log(`  curl '${cluster}/legacy/hello'            # passes through to the legacy service`);
    console.log(
      basePort === 7900 && dataDir === resolve('.roam')
        ? '  npx roam status; npx roam plan; npx roam history'
        : `  ROAM_CONTROL_PLANE=${cp.url} ROAM_TOKEN=${token} npx roam plan`,
    );
    console.log(
      values['no-traffic']
        ? '\nNo traffic generator (--no-traffic).'
        : `\nTraffic: scenario "${scenario.name}" (${scenario.description}), looped.`,
    );
    console.log('A process that dies is restarted (see the "exited" and "restarted" lines on stderr).');
    console.log('Ctrl-C stops everything.');
    const gaveUp = await Promise.race([stopped.then(() => undefined), mesh.failed]);
    if (gaveUp === undefined) return 0;
    console.error(
      `roam up: ${gaveUp.node} keeps failing: it died ${gaveUp.deaths} times in a row, the last time with ` +
        `"${gaveUp.reason}". Stopping the mesh.`,
    );
    await stop();
    return 1;
  },
};
