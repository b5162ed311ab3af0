// From a topology and the mesh's nodes (each an address at a site) to the relay's routes and each node's
// network map: a route per (source site, destination node at another site), so a process at site S reaches
// node N through the port that applies the S-to-N link. Traffic within a site is not relayed.
import { InvalidArgumentError } from '../core/errors.ts';
import { parseHostPort } from '../core/http.ts';
import { addressKey, type NetworkMap } from '../core/network.ts';
import type { RelayRoute } from './relay.ts';
import { linkTable, type Topology } from './topology.ts';

export interface MeshNode {
  /** Names the node's network map (the file `roam relay --maps-dir` writes is NAME.json). */
  name: string;
  site: string;
  /** Where the node listens, "HOST:PORT". */
  address: string;
}

export interface RelayPlan {
  routes: RelayRoute[];
  /** Node name -> the map to start it with. */
  maps: Record<string, NetworkMap>;
}

const NODE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function checkNodes(topology: Topology, nodes: MeshNode[]): void {
  const names = new Set<string>();
  const addresses = new Map<string, string>();
  for (const n of nodes) {
    if (!NODE_NAME.test(n.name))
      throw new InvalidArgumentError(`node "${n.name}": names are 1 to 64 of [A-Za-z0-9._-]`);
    if (names.has(n.name)) throw new InvalidArgumentError(`node "${n.name}" is listed twice`);
    names.add(n.name);
    if (!(n.site in topology.sites))
      throw new InvalidArgumentError(
        `node "${n.name}": site "${n.site}" is not in the topology (sites: ${Object.keys(topology.sites).join(', ')})`,
      );
    const { host, port } = parseHostPort(n.address, `node "${n.name}" address`);
    if (port === 0) throw new InvalidArgumentError(`node "${n.name}": its address needs a real port, not 0`);
    const key = addressKey(host, port);
    const other = addresses.get(key);
    if (other !== undefined)
      throw new InvalidArgumentError(`nodes "${other}" and "${n.name}" share the address ${n.address}`);
    addresses.set(key, n.name);
  }
}

/** The routes the relay needs, listening on `host` port 0 (any free port). */
export function planRoutes(topology: Topology, nodes: MeshNode[], host = '127.0.0.1'): RelayRoute[] {
  checkNodes(topology, nodes);
  const link = linkTable(topology);
  const sources = [...new Set(nodes.map((n) => n.site))];
  const routes: RelayRoute[] = [];
  for (const from of sources)
    for (const n of nodes)
      if (n.site !== from)
        routes.push({ from, to: n.site, target: n.address, listen: `${host}:0`, link: link(from, n.site) });
  return routes;
}

/** Each node's map, from the routes as the relay bound them. */
export function networkMaps(nodes: MeshNode[], routes: RelayRoute[]): Record<string, NetworkMap> {
  const maps: Record<string, NetworkMap> = {};
  for (const n of nodes) {
    const map: NetworkMap = { site: n.site, routes: {} };
    for (const r of routes) {
      if (r.from !== n.site) continue;
      const t = parseHostPort(r.target, 'route target');
      const l = parseHostPort(r.listen, 'route listen');
      map.routes[addressKey(t.host, t.port)] = addressKey(l.host, l.port);
    }
    maps[n.name] = map;
  }
  return maps;
}

/**
 * The whole plan with fixed ports (`basePort`, `basePort + 1`, ...), so a launcher can write every node's map
 * before it starts anything; `roam relay --base-port` with the same topology and nodes binds the same ports.
 */
export function planRelay(
  topology: Topology,
  nodes: MeshNode[],
  options: { basePort: number; host?: string },
): RelayPlan {
  const { basePort, host = '127.0.0.1' } = options;
  const routes = planRoutes(topology, nodes, host);
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + routes.length - 1 > 65535)
    throw new InvalidArgumentError(
      `relay base port must leave room for ${routes.length} ports below 65536, got ${basePort}`,
    );
  const bound = routes.map((r, i) => ({ ...r, listen: `${host}:${basePort + i}` }));
  return { routes: bound, maps: networkMaps(nodes, bound) };
}
