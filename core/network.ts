// Where this process's outgoing connections really go. In a local mesh every byte between sites passes through
// the network relay (relay/), which delays it by the link's distance; a process learns which relay port stands
// for which destination from its network map (`ROAM_NETWORK_MAP=FILE` or `roam --network-map FILE`), and every
// undici dispatcher Roam makes connects through `networkConnector()`, so no component knows the topology.
import { readFileSync } from 'node:fs';
import type { buildConnector } from 'undici';
import { InvalidArgumentError } from './errors.ts';
import { type MeshIdentity, meshIdentity } from './mesh-identity.ts';
import { undici } from './undici.ts';

export const NETWORK_MAP_ENV = 'ROAM_NETWORK_MAP';

/** "From this process, destination HOST:PORT is reached at relay HOST:PORT." */
export interface NetworkMap {
  /** The site this process runs at, for people reading the file; routing does not use it. */
  site?: string;
  routes: Record<string, string>;
}

interface Address {
  hostname: string;
  port: number;
}

const ADDRESS = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

function parseAddress(value: unknown, field: string): Address {
  const m = typeof value === 'string' ? ADDRESS.exec(value) : null;
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port < 1 || port > 65535)
    throw new InvalidArgumentError(`${field} must be "HOST:PORT", got ${JSON.stringify(value)}`);
  return { hostname: m[1] ?? m[2]!, port };
}

/** The key a destination is looked up by: IPv6 hosts without brackets, the port always written out. */
export function addressKey(hostname: string, port: number): string {
  return `${hostname.replace(/^\[(.*)\]$/, '$1')}:${port}`;
}

/** Checks a parsed map; `source` names where it came from in the error. */
export function parseNetworkMap(value: unknown, source: string): NetworkMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidArgumentError(`network map ${source}: expected a JSON object with "routes"`);
  const { site, routes } = value as { site?: unknown; routes?: unknown };
  if (site !== undefined && typeof site !== 'string')
    throw new InvalidArgumentError(`network map ${source}: "site" must be a string`);
  if (typeof routes !== 'object' || routes === null || Array.isArray(routes))
    throw new InvalidArgumentError(
      `network map ${source}: "routes" must be an object of "HOST:PORT": "HOST:PORT"`,
    );
  const out: Record<string, string> = {};
  for (const [from, to] of Object.entries(routes)) {
    const a = parseAddress(from, `network map ${source}: route key`);
    const b = parseAddress(to, `network map ${source}: routes["${from}"]`);
    out[addressKey(a.hostname, a.port)] = addressKey(b.hostname, b.port);
  }
  return site === undefined ? { routes: out } : { site, routes: out };
}

export function loadNetworkMap(file: string): NetworkMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`network map ${file}: ${(err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`network map ${file}: not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  return parseNetworkMap(value, file);
}

// undefined: not looked up yet; null: this process has no map (every connection goes direct).
let current: NetworkMap | null | undefined;

/** The map in force: the one set last, else the file `ROAM_NETWORK_MAP` names, else none. */
export function networkMap(): NetworkMap | null {
  if (current === undefined) {
    const file = process.env[NETWORK_MAP_ENV];
    current = file ? loadNetworkMap(file) : null;
  }
  return current;
}

/** Replaces the process's map (null: connect directly); connections already open keep their route. */
export function setNetworkMap(map: NetworkMap | null): void {
  current = map;
}

/** Where a connection to `hostname:port` really goes under the map in force. */
export function resolveDestination(hostname: string, port: number): Address {
  const to = networkMap()?.routes[addressKey(hostname, port)];
  if (to === undefined) return { hostname, port };
  const i = to.lastIndexOf(':');
  return { hostname: to.slice(0, i), port: Number(to.slice(i + 1)) };
}

/**
 * An undici `connect` function that follows the network map. Give it the connector options the dispatcher
 * would otherwise have built its own connector from (e.g. `{ useH2c: true }`), since a custom connector
 * replaces undici's. The Host header is unchanged: the server still sees the address the caller asked for.
 */
export function networkConnector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = undici().buildConnector(options);
  return (opts, callback) => {
    const defaultPort = opts.protocol === 'https:' ? 443 : 80;
    const to = resolveDestination(opts.hostname, opts.port ? Number(opts.port) : defaultPort);
    connect({ ...opts, hostname: to.hostname, port: String(to.port) }, callback);
  };
}

/**
 * `networkConnector` for hops to other mesh nodes (hosts, other proxies, data-store hosts, probes): while this
 * process holds a mesh identity (core/mesh-identity.ts), every new connection is mutual TLS with it, the peer
 * checked against the mesh CA and trust domain. Pools keep their http:// origins: whether a hop is encrypted is
 * the mesh's to decide, per connection, so the first certificate and each rotation take effect on the next
 * connection and none in flight is disturbed. Never for the application's own service (proxy/upstream.ts).
 */
export function meshConnector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const plain = networkConnector(options);
  let secure: buildConnector.connector | undefined;
  let holder: MeshIdentity | undefined;
  let generation = -1;
  return (opts, callback) => {
    const identity = meshIdentity();
    if (!identity) return plain(opts, callback);
    if (identity !== holder || identity.generation !== generation) {
      secure = networkConnector({ ...options, ...identity.clientOptions() } as buildConnector.BuildOptions);
      holder = identity;
      generation = identity.generation;
    }
    secure!({ ...opts, protocol: 'https:', port: opts.port || '80' }, callback);
  };
}

/**
 * Start-up wiring for a Roam process: loads the map (from `file`, else `ROAM_NETWORK_MAP`) so a bad file is
 * refused now rather than at the first connection, and routes undici's global dispatcher (plain `request()`
 * calls) through it too. Without a map it changes nothing.
 */
export function installNetworkMap(file?: string): NetworkMap | null {
  if (file !== undefined) setNetworkMap(loadNetworkMap(file));
  const map = networkMap();
  if (map) {
    const { Agent, setGlobalDispatcher } = undici();
    setGlobalDispatcher(new Agent({ connect: networkConnector() }));
  }
  return map;
}
