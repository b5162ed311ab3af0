// The control plane's state on node:sqlite: endpoints and their versions, modules (blobs content-addressed on
// disk), hosts and proxies as they subscribed, placements, per-node snapshot versions, and a history of every
// change. A restart loses nothing: every table is written before the change is published.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import type { CallerPolicy } from '../core/mesh-authz.ts';
import { checkName } from '../core/names.ts';
import type { RouteSpec } from '../proxy/index.ts';
import { ModuleStore } from '../wasm-host/index.ts';
import type { DataStoreInfo } from './proto.ts';

/** Where an endpoint may run. The placement loop and manual migrations both respect it. */
export interface EndpointPolicy {
  /** Run only on hosts of this tier. */
  pinnedTier?: string;
  /** Never run on hosts of these tiers. */
  forbiddenTiers?: string[];
  /** Capabilities a host must offer, e.g. "gpu" or "store:carts". */
  requires?: string[];
  /** Most replicas the placement loop may run (default 1); origins are then served by their nearest. */
  maxReplicas?: number;
  /** The placement loop leaves the endpoint where it is (manual migrations still move it). */
  manual?: boolean;
  /** Which mesh identities may call it (docs/security.md); absent: any. Not a placement rule. */
  callers?: CallerPolicy;
}

export interface EndpointRecord {
  name: string;
  routes: RouteSpec[];
  policy: EndpointPolicy;
  /** The version in force (0 before the first deploy). */
  version: number;
  digest: string;
}

/**
 * Per origin site (a proxy's location; "*" for any site not listed), the share of requests each replica
 * (host or proxy id) serves. Weights need not sum to 1; a replica missing from a site's map gets none of it.
 */
export type Weights = Record<string, Record<string, number>>;

export interface VersionRecord {
  endpoint: string;
  version: number;
  digest: string;
  createdAt: string;
}

export interface NodeRecord {
  id: string;
  kind: 'proxy' | 'host';
  tier: string;
  location: string;
  address: string;
  cpuMillis: number;
  memoryMib: number;
  capabilities: string[];
  /** Data stores the node serves or reaches, with their locations. */
  stores: DataStoreInfo[];
  /** endpoint@digest pairs the node reported ready in its last ACK. */
  ready: string[];
  appliedVersion: number;
  lastSeen: number;
  status: 'up' | 'down';
}

export interface HistoryRecord {
  id: number;
  at: string;
  action: string;
  endpoint: string | null;
  detail: Record<string, unknown>;
}

export class State {
  readonly modules: ModuleStore;
  readonly dir: string;
  private readonly db: DatabaseSync;

  constructor(dataDir: string) {
    this.dir = dataDir;
    mkdirSync(dataDir, { recursive: true });
    this.modules = new ModuleStore(join(dataDir, 'modules'));
    this.db = new DatabaseSync(join(dataDir, 'roam.db'));
    // WAL with synchronous = NORMAL: a commit survives the process crashing (not a power cut, which may lose
    // the last commits) and costs no fsync, which took an ACK from 0.4 to 3 ms. Nodes re-send what they run on
    // reconnect; with replicas, the shared store is the durable copy.
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS endpoints (name TEXT PRIMARY KEY, routes TEXT NOT NULL, policy TEXT NOT NULL, version INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS versions (
        endpoint TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (endpoint, version));
      CREATE TABLE IF NOT EXISTS nodes (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, tier TEXT NOT NULL, location TEXT NOT NULL, address TEXT NOT NULL,
        cpu_millis INTEGER NOT NULL, memory_mib INTEGER NOT NULL, capabilities TEXT NOT NULL, stores TEXT NOT NULL,
        ready TEXT NOT NULL,
        applied_version INTEGER NOT NULL, last_seen INTEGER NOT NULL, status TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS placements (endpoint TEXT NOT NULL, node_id TEXT NOT NULL, PRIMARY KEY (endpoint, node_id));
      CREATE TABLE IF NOT EXISTS snapshots (node_id TEXT PRIMARY KEY, version INTEGER NOT NULL, content TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS weights (endpoint TEXT PRIMARY KEY, weights TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS migrations (
        id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, record TEXT NOT NULL, active INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, record TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS certificates (
        node_id TEXT PRIMARY KEY, spiffe_id TEXT NOT NULL, not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS history (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL, endpoint TEXT, detail TEXT NOT NULL);
    `);
  }

  close(): void {
    this.db.close();
  }

  /** A secret generated on first start and kept in the database (tokens are derived from it). */
  secret(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'secret'").get() as
      | { value: string }
      | undefined;
    if (row) return row.value;
    const value = randomBytes(32).toString('hex');
    this.db.prepare("INSERT INTO meta (key, value) VALUES ('secret', ?)").run(value);
    return value;
  }

  /** Next snapshot version; monotonic across restarts. */
  nextVersion(): number {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'version'").get() as
      | { value: string }
      | undefined;
    const next = (row ? Number(row.value) : 0) + 1;
    this.db
      .prepare(
        "INSERT INTO meta (key, value) VALUES ('version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      )
      .run(String(next));
    return next;
  }

  endpoint(name: string): EndpointRecord | undefined {
    const row = this.db.prepare(`${ENDPOINT_SELECT} WHERE e.name = ?`).get(name) as EndpointRow | undefined;
    return row && toEndpoint(row);
  }

  endpoints(): EndpointRecord[] {
    return (this.db.prepare(`${ENDPOINT_SELECT} ORDER BY e.name`).all() as unknown as EndpointRow[]).map(
      toEndpoint,
    );
  }

  versions(endpoint: string): VersionRecord[] {
    const rows = this.db
      .prepare(
        'SELECT endpoint, version, digest, created_at FROM versions WHERE endpoint = ? ORDER BY version',
      )
      .all(endpoint) as { endpoint: string; version: number; digest: string; created_at: string }[];
    return rows.map((r) => ({
      endpoint: r.endpoint,
      version: r.version,
      digest: r.digest,
      createdAt: r.created_at,
    }));
  }

  /**
   * Records a deploy: a new version of `name` at `digest` (or the version already at that digest, if the
   * latest one is), with `routes` when given. Returns the version in force.
   */
  deploy(
    name: string,
    digest: string,
    routes: RouteSpec[] | undefined,
    policy: EndpointPolicy | undefined,
  ): { version: number; changed: boolean } {
    checkName(name, 'endpoint');
    if (!this.modules.has(digest)) throw new NotFoundError(`module ${digest} has not been uploaded`);
    const current = this.endpoint(name);
    const nextRoutes = routes ?? current?.routes ?? [];
    const nextPolicy = policy ?? current?.policy ?? {};
    if (
      current &&
      current.digest === digest &&
      JSON.stringify(nextRoutes) === JSON.stringify(current.routes) &&
      JSON.stringify(nextPolicy) === JSON.stringify(current.policy)
    ) {
      return { version: current.version, changed: false };
    }
    const last = this.db.prepare('SELECT MAX(version) AS v FROM versions WHERE endpoint = ?').get(name) as {
      v: number | null;
    };
    const version = (last.v ?? 0) + 1;
    this.db.exec('BEGIN');
    try {
      this.db
        .prepare('INSERT INTO versions (endpoint, version, digest, created_at) VALUES (?, ?, ?, ?)')
        .run(name, version, digest, new Date().toISOString());
      this.db
        .prepare(
          'INSERT INTO endpoints (name, routes, policy, version) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET routes = excluded.routes, policy = excluded.policy, version = excluded.version',
        )
        .run(name, JSON.stringify(nextRoutes), JSON.stringify(nextPolicy), version);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    return { version, changed: true };
  }

  /** Puts an existing version back in force. */
  rollback(name: string, to: number | undefined): EndpointRecord {
    const current = this.endpoint(name);
    if (!current) throw new NotFoundError(`endpoint "${name}" does not exist`, { endpoint: name });
    const target = to ?? current.version - 1;
    const exists = this.versions(name).some((v) => v.version === target);
    if (!exists) {
      throw new NotFoundError(`endpoint "${name}" has no version ${target}`, { endpoint: name });
    }
    if (target === current.version)
      throw new ConflictError(`version ${target} of "${name}" is already in force`);
    this.db.prepare('UPDATE endpoints SET version = ? WHERE name = ?').run(target, name);
    return this.endpoint(name)!;
  }

  placements(endpoint?: string): { endpoint: string; nodeId: string }[] {
    const rows = (
      endpoint === undefined
        ? this.db.prepare('SELECT endpoint, node_id FROM placements ORDER BY endpoint, node_id').all()
        : this.db
            .prepare('SELECT endpoint, node_id FROM placements WHERE endpoint = ? ORDER BY node_id')
            .all(endpoint)
    ) as { endpoint: string; node_id: string }[];
    return rows.map((r) => ({ endpoint: r.endpoint, nodeId: r.node_id }));
  }

  setPlacement(endpoint: string, nodeIds: string[]): void {
    this.db.exec('BEGIN');
    try {
      this.db.prepare('DELETE FROM placements WHERE endpoint = ?').run(endpoint);
      const insert = this.db.prepare('INSERT INTO placements (endpoint, node_id) VALUES (?, ?)');
      for (const id of nodeIds) insert.run(endpoint, id);
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  node(id: string): NodeRecord | undefined {
    const row = this.db.prepare('SELECT * FROM nodes WHERE id = ?').get(id) as
      | Record<string, unknown>
      | undefined;
    return row && toNode(row);
  }

  nodes(): NodeRecord[] {
    return (this.db.prepare('SELECT * FROM nodes ORDER BY id').all() as Record<string, unknown>[]).map(
      toNode,
    );
  }

  saveNode(n: NodeRecord): void {
    this.db
      .prepare(
        `INSERT INTO nodes (id, kind, tier, location, address, cpu_millis, memory_mib, capabilities, stores, ready, applied_version, last_seen, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, tier = excluded.tier, location = excluded.location,
           address = excluded.address, cpu_millis = excluded.cpu_millis, memory_mib = excluded.memory_mib,
           capabilities = excluded.capabilities, stores = excluded.stores, ready = excluded.ready, applied_version = excluded.applied_version,
           last_seen = excluded.last_seen, status = excluded.status`,
      )
      .run(
        n.id,
        n.kind,
        n.tier,
        n.location,
        n.address,
        n.cpuMillis,
        n.memoryMib,
        JSON.stringify(n.capabilities),
        JSON.stringify(n.stores),
        JSON.stringify(n.ready),
        n.appliedVersion,
        n.lastSeen,
        n.status,
      );
  }

  snapshotOf(nodeId: string): { version: number; content: string } | undefined {
    return this.db.prepare('SELECT version, content FROM snapshots WHERE node_id = ?').get(nodeId) as
      | { version: number; content: string }
      | undefined;
  }

  saveSnapshot(nodeId: string, version: number, content: string): void {
    this.db
      .prepare(
        'INSERT INTO snapshots (node_id, version, content) VALUES (?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET version = excluded.version, content = excluded.content',
      )
      .run(nodeId, version, content);
  }

  /** How each origin site's requests for `endpoint` split over its replicas; undefined: evenly over all. */
  weights(endpoint: string): Weights | undefined {
    const row = this.db.prepare('SELECT weights FROM weights WHERE endpoint = ?').get(endpoint) as
      | { weights: string }
      | undefined;
    return row ? JSON.parse(row.weights) : undefined;
  }

  /** Every endpoint's weights, in one query (snapshots are rebuilt on every ACK). */
  allWeights(): Map<string, Weights> {
    const rows = this.db.prepare('SELECT endpoint, weights FROM weights').all() as {
      endpoint: string;
      weights: string;
    }[];
    return new Map(rows.map((r) => [r.endpoint, JSON.parse(r.weights)]));
  }

  setWeights(endpoint: string, weights: Weights | undefined): void {
    if (weights === undefined) this.db.prepare('DELETE FROM weights WHERE endpoint = ?').run(endpoint);
    else
      this.db
        .prepare(
          'INSERT INTO weights (endpoint, weights) VALUES (?, ?) ON CONFLICT (endpoint) DO UPDATE SET weights = excluded.weights',
        )
        .run(endpoint, JSON.stringify(weights));
  }

  /** Saves a migration (a new one gets its id); `active` ones are resumed after a restart. */
  saveMigration<T extends { id: number; endpoint: string }>(m: T, active: boolean): T {
    if (m.id === 0) {
      const r = this.db
        .prepare('INSERT INTO migrations (endpoint, record, active) VALUES (?, ?, ?)')
        .run(m.endpoint, '{}', active ? 1 : 0);
      m.id = Number(r.lastInsertRowid);
    }
    this.db
      .prepare('UPDATE migrations SET record = ?, active = ? WHERE id = ?')
      .run(JSON.stringify(m), active ? 1 : 0, m.id);
    return m;
  }

  migrations<T>(filter: { active?: boolean; endpoint?: string; limit?: number } = {}): T[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.active !== undefined) {
      where.push('active = ?');
      args.push(filter.active ? 1 : 0);
    }
    if (filter.endpoint !== undefined) {
      where.push('endpoint = ?');
      args.push(filter.endpoint);
    }
    const sql = `SELECT record FROM migrations ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, filter.limit ?? 200) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record));
  }

  /** Saves a placement decision (a new one gets its id). */
  saveDecision<T extends { id: number; endpoint: string }>(d: T): T {
    if (d.id === 0) {
      const r = this.db
        .prepare('INSERT INTO decisions (endpoint, record) VALUES (?, ?)')
        .run(d.endpoint, '{}');
      d.id = Number(r.lastInsertRowid);
    }
    this.db.prepare('UPDATE decisions SET record = ? WHERE id = ?').run(JSON.stringify(d), d.id);
    return d;
  }

  decision<T>(id: number): T | undefined {
    const row = this.db.prepare('SELECT record FROM decisions WHERE id = ?').get(id) as
      | { record: string }
      | undefined;
    return row ? JSON.parse(row.record) : undefined;
  }

  decisions<T>(endpoint?: string, limit = 200): T[] {
    const rows = (
      endpoint === undefined
        ? this.db.prepare('SELECT record FROM decisions ORDER BY id DESC LIMIT ?').all(limit)
        : this.db
            .prepare('SELECT record FROM decisions WHERE endpoint = ? ORDER BY id DESC LIMIT ?')
            .all(endpoint, limit)
    ) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record));
  }

  /** A small persistent setting (the placement loop's pauses live here). */
  setting<T>(key: string): T | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(`setting:${key}`) as
      | { value: string }
      | undefined;
    return row ? JSON.parse(row.value) : undefined;
  }

  setSetting(key: string, value: unknown): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(`setting:${key}`, JSON.stringify(value));
  }

  /** Notes the certificate last issued to a node (its expiry shows in `roam status`). */
  saveCertificate(nodeId: string, spiffeId: string, notAfter: number): void {
    this.db
      .prepare(
        `INSERT INTO certificates (node_id, spiffe_id, not_after, issued_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (node_id) DO UPDATE SET spiffe_id = excluded.spiffe_id, not_after = excluded.not_after, issued_at = excluded.issued_at`,
      )
      .run(nodeId, spiffeId, notAfter, Date.now());
  }

  /** Per node, when the certificate last issued to it expires (ms since the epoch). */
  certificateExpiries(): Map<string, number> {
    const rows = this.db.prepare('SELECT node_id, not_after FROM certificates').all() as {
      node_id: string;
      not_after: number;
    }[];
    return new Map(rows.map((r) => [r.node_id, Number(r.not_after)]));
  }

  record(action: string, endpoint: string | null, detail: Record<string, unknown>): void {
    this.db
      .prepare('INSERT INTO history (at, action, endpoint, detail) VALUES (?, ?, ?, ?)')
      .run(new Date().toISOString(), action, endpoint, JSON.stringify(detail));
  }

  history(endpoint?: string, limit = 200): HistoryRecord[] {
    const rows = (
      endpoint === undefined
        ? this.db.prepare('SELECT * FROM history ORDER BY id DESC LIMIT ?').all(limit)
        : this.db
            .prepare('SELECT * FROM history WHERE endpoint = ? ORDER BY id DESC LIMIT ?')
            .all(endpoint, limit)
    ) as { id: number; at: string; action: string; endpoint: string | null; detail: string }[];
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      action: r.action,
      endpoint: r.endpoint,
      detail: JSON.parse(r.detail),
    }));
  }
}

const ENDPOINT_SELECT =
  'SELECT e.name, e.routes, e.policy, e.version, v.digest FROM endpoints e JOIN versions v ON v.endpoint = e.name AND v.version = e.version';

interface EndpointRow {
  name: string;
  routes: string;
  policy: string;
  version: number;
  digest: string;
}

function toEndpoint(r: EndpointRow): EndpointRecord {
  return {
    name: r.name,
    routes: JSON.parse(r.routes),
    policy: JSON.parse(r.policy),
    version: r.version,
    digest: r.digest,
  };
}

/** Why `node` cannot run an endpoint with `policy`, or undefined if it can. */
export function policyViolation(policy: EndpointPolicy, node: NodeRecord): string | undefined {
  if (policy.pinnedTier && node.tier !== policy.pinnedTier) {
    return `${node.id} is a ${node.tier} host and the endpoint is pinned to ${policy.pinnedTier}`;
  }
  if (policy.forbiddenTiers?.includes(node.tier))
    return `${node.id} is a ${node.tier} host, a tier the endpoint forbids`;
  const missing = (policy.requires ?? []).filter((c) => !node.capabilities.includes(c));
  if (missing.length > 0) return `${node.id} lacks ${missing.join(', ')}`;
  return undefined;
}

function toNode(row: Record<string, unknown>): NodeRecord {
  return {
    id: row.id as string,
    kind: row.kind as 'proxy' | 'host',
    tier: row.tier as string,
    location: row.location as string,
    address: row.address as string,
    cpuMillis: Number(row.cpu_millis),
    memoryMib: Number(row.memory_mib),
    capabilities: JSON.parse(row.capabilities as string),
    stores: JSON.parse(row.stores as string),
    ready: JSON.parse(row.ready as string),
    appliedVersion: Number(row.applied_version),
    lastSeen: Number(row.last_seen),
    status: row.status as 'up' | 'down',
  };
}
