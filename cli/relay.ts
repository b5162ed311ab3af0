// `roam relay`: emulates the network distance between a local mesh's sites. It opens a loopback port per
// (source site, destination node) and writes each node's network map; nodes started with their map
// (`ROAM_NETWORK_MAP=FILE`) reach nodes at other sites only through the relay, paying the link between them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_TOPOLOGY_FILE,
  loadTopology,
  type MeshNode,
  networkMaps,
  planRelay,
  planRoutes,
  Relay,
  type RelayRoute,
} from '../relay/index.ts';
import { type Command, parse, UsageError } from './args.ts';
import { onShutdown } from './lifecycle.ts';

const usage = `Usage: roam relay --node NAME=SITE@HOST:PORT ... [options]

Delays, jitters, rate-limits and drops the traffic between sites as the topology says. Start each node with
ROAM_NETWORK_MAP=DIR/NAME.json (or --network-map) and its connections to nodes at other sites go through the
relay; connections within a site go direct.

Options:
  --topology FILE                 sites and links (default: relay/default-topology.json)
  --node NAME=SITE@HOST:PORT      a node of the mesh: its name, its site and where it listens (repeatable)
  --listen-host HOST              where the relay listens (default: 127.0.0.1)
  --base-port N                   relay ports are N, N+1, ... in route order (default: 0, free ports)
  --maps-dir DIR                  write each node's network map to DIR/NAME.json before reporting ready`;

const NODE_FLAG = /^([^=]+)=([^@]+)@(.+)$/;

export function parseNodeFlag(value: string): MeshNode {
  const m = NODE_FLAG.exec(value);
  if (!m) throw new UsageError(`--node expects NAME=SITE@HOST:PORT, got "${value}"`);
  return { name: m[1]!, site: m[2]!, address: m[3]! };
}

function describe(route: RelayRoute): string {
  const { rttMs, jitterMs, bandwidthMbps, loss } = route.link;
  const bw = bandwidthMbps === null ? 'unlimited' : `${bandwidthMbps} Mbit/s`;
  return `  ${route.listen.padEnd(16)} ${route.from} -> ${route.to} ${route.target}: rtt ${rttMs} ms +0..${jitterMs} ms, ${bw}, loss ${loss}`;
}

export const relayCommand: Command = {
  name: 'relay',
  summary: 'emulate network distance between sites on loopback (delay, jitter, bandwidth, loss)',
  usage,
  async run(argv) {
    const { values } = parse(
      argv,
      {
        topology: { type: 'string' },
        node: { type: 'string', multiple: true },
        'listen-host': { type: 'string' },
        'base-port': { type: 'string' },
        'maps-dir': { type: 'string' },
      },
      usage,
    );
    if (values.help) {
      console.log(usage);
      return 0;
    }
    const nodes = (values.node ?? []).map(parseNodeFlag);
    if (nodes.length === 0) throw new UsageError(`at least one --node is needed\n\n${usage}`);
    const basePort = Number(values['base-port'] ?? 0);
    if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535)
      throw new UsageError(`--base-port expects a port number, got "${values['base-port']}"`);
    const host = values['listen-host'] ?? '127.0.0.1';
    const topology = loadTopology(values.topology ?? DEFAULT_TOPOLOGY_FILE);
    const planned =
      basePort === 0
        ? planRoutes(topology, nodes, host)
        : planRelay(topology, nodes, { basePort, host }).routes;
    const relay = new Relay(planned);
    const routes = await relay.start();
    const maps = networkMaps(nodes, routes);
    const dir = values['maps-dir'];
    if (dir !== undefined) {
      mkdirSync(dir, { recursive: true });
      for (const [name, map] of Object.entries(maps))
        writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(map, null, 2)}\n`);
    }
    const stopped = onShutdown(() => relay.close());
    const address = routes[0]?.listen ?? `${host}:0`;
    console.log(JSON.stringify({ event: 'listening', component: 'relay', address, routes, maps }));
    console.log(`\nRelaying ${routes.length} routes:`);
    for (const r of routes) console.log(describe(r));
    await stopped;
    return 0;
  },
};
