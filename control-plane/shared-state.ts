// The state shared by highly available control-plane replicas, on PostgreSQL (a store users already run).
// Each replica keeps the embedded node:sqlite database as its local working copy, so the State class and
// every synchronous read and write in the control plane stay as they are on one machine; this replicator
// mirrors that database's rows to and from PostgreSQL:
// - the leader pushes: when SQLite's data_version says another connection (the State) committed, it diffs
//   every table against what it last pushed and writes the changed rows, each stamped with a new revision,
//   in one transaction that first checks the leader fence (a deposed leader's late writes are refused);
// - followers pull every row with a revision newer than the last one they applied, and module blobs they lack;
// - node messages that reach a follower (subscribe, ACK, NACK, heartbeat) are queued in roam_node_events for
//   the leader, which applies them through the same ControlPlane methods (see replica.ts).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { ModuleStore } from '../wasm-host/index.ts';

const SCHEMA = `
  CREATE SEQUENCE IF NOT EXISTS roam_rev;
  CREATE TABLE IF NOT EXISTS roam_rows (
    tbl TEXT NOT NULL, key TEXT NOT NULL, row JSONB, deleted BOOLEAN NOT NULL DEFAULT false, rev BIGINT NOT NULL,
    PRIMARY KEY (tbl, key));
  CREATE INDEX IF NOT EXISTS roam_rows_rev ON roam_rows (rev);
  CREATE TABLE IF NOT EXISTS roam_modules (digest TEXT PRIMARY KEY, bytes BYTEA NOT NULL);
  CREATE TABLE IF NOT EXISTS roam_leader (id INT PRIMARY KEY, holder TEXT NOT NULL, term BIGINT NOT NULL);
  INSERT INTO roam_leader (id, holder, term) VALUES (1, '', 0) ON CONFLICT (id) DO NOTHING;
  CREATE TABLE IF NOT EXISTS roam_node_events (
    seq BIGSERIAL PRIMARY KEY, replica TEXT NOT NULL, node_id TEXT NOT NULL, kind TEXT NOT NULL, payload JSONB);`;

export interface NodeEvent {
  seq: number;
  nodeId: string;
  kind: 'subscribe' | 'ack' | 'nack' | 'heartbeat' | 'disconnect' | 'certificate';
  payload: unknown;
}

type Row = Record<string, unknown>;

export class FencedError extends Error {}

export class SharedState {
  private readonly pool: pg.Pool;
  private readonly db: DatabaseSync;
  /** Per table, each row's JSON as last pushed or pulled: what PostgreSQL holds for this replica. */
  private readonly image = new Map<string, Map<string, string>>();
  private readonly shipped = new Set<string>();
  private readonly modules: ModuleStore;
  private readonly modulesDir: string;
  private readonly replica: string;
  private dataVersion = -1;
  private lastRev = 0;
  private queue: Promise<void> = Promise.resolve();
  private pushing: Promise<void> = Promise.resolve();

  constructor(url: string, dataDir: string, modules: ModuleStore, replica: string) {
    this.modules = modules;
    this.replica = replica;
    this.pool = new pg.Pool({ connectionString: url, max: 3 });
    // Errors on idle connections (the server restarting) surface on the next query instead of crashing.
    this.pool.on('error', () => {});
    // A second connection to the replica's working copy: State's commits show up in its data_version.
    this.db = new DatabaseSync(join(dataDir, 'roam.db'));
    this.db.exec('PRAGMA busy_timeout = 5000');
    this.modulesDir = join(dataDir, 'modules');
  }

  /**
   * State's tables with their primary-key columns, read from SQLite itself: a table State adds later is
   * mirrored without a change here. A table without a declared key is keyed by all its columns.
   */
  private tables(): Map<string, string[]> {
    const names = this.db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .all() as { name: string }[];
    const tables = new Map<string, string[]>();
    for (const { name } of names) {
      const cols = this.db.prepare(`PRAGMA table_info(${name})`).all() as { name: string; pk: number }[];
      const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
      tables.set(
        name,
        (pk.length > 0 ? pk : cols).map((c) => c.name),
      );
      if (!this.image.has(name)) this.image.set(name, new Map());
    }
    return tables;
  }

  async open(): Promise<void> {
    await this.pool.query(SCHEMA);
  }

  async close(): Promise<void> {
    await this.queue;
    await this.pool.end();
    this.db.close();
  }

  /** Makes this replica the writer: later pushes from any other replica are refused. */
  async claim(): Promise<number> {
    const res = await this.pool.query(
      'UPDATE roam_leader SET holder = $1, term = term + 1 WHERE id = 1 RETURNING term',
      [this.replica],
    );
    return Number(res.rows[0].term);
  }

  /** Leader: writes what changed locally since the last push, one push at a time. Returns how many rows went out. */
  push(): Promise<number> {
    const run = this.pushing.then(() => this.pushNow());
    this.pushing = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async pushNow(): Promise<number> {
    const version = (this.db.prepare('PRAGMA data_version').get() as { data_version: number }).data_version;
    const blobs = this.localModules().filter((d) => !this.shipped.has(d));
    if (version === this.dataVersion && blobs.length === 0) return 0;
    const changes: { tbl: string; key: string; json: string | null }[] = [];
    for (const [tbl, keys] of this.tables()) {
      const before = this.image.get(tbl)!;
      const seen = new Set<string>();
      for (const row of this.db.prepare(`SELECT * FROM ${tbl}`).all() as Row[]) {
        const key = JSON.stringify(keys.map((k) => row[k]));
        const json = JSON.stringify(row);
        seen.add(key);
        if (before.get(key) !== json) changes.push({ tbl, key, json });
      }
      for (const key of before.keys()) if (!seen.has(key)) changes.push({ tbl, key, json: null });
    }
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const fence = await client.query('SELECT holder FROM roam_leader WHERE id = 1 FOR UPDATE');
      if (fence.rows[0]?.holder !== this.replica) {
        throw new FencedError(
          `replica ${this.replica} no longer holds the shared state (${fence.rows[0]?.holder} does)`,
        );
      }
      for (const d of blobs) {
        await client.query(
          'INSERT INTO roam_modules (digest, bytes) VALUES ($1, $2) ON CONFLICT DO NOTHING',
          [d, Buffer.from(this.modules.bytes(d))],
        );
      }
      for (const c of changes) {
        await client.query(
          `INSERT INTO roam_rows (tbl, key, row, deleted, rev) VALUES ($1, $2, $3, $4, nextval('roam_rev'))
           ON CONFLICT (tbl, key) DO UPDATE SET row = excluded.row, deleted = excluded.deleted, rev = excluded.rev`,
          [c.tbl, c.key, c.json, c.json === null],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    this.dataVersion = version;
    for (const d of blobs) this.shipped.add(d);
    for (const c of changes) {
      if (c.json === null) this.image.get(c.tbl)!.delete(c.key);
      else this.image.get(c.tbl)!.set(c.key, c.json);
    }
    return changes.length;
  }

  /** Follower (and a new leader, first): applies every row newer than the last one applied. */
  async pull(): Promise<number> {
    const res = await this.pool.query(
      'SELECT tbl, key, row, deleted, rev FROM roam_rows WHERE rev > $1 ORDER BY rev',
      [this.lastRev],
    );
    const known = new Set(this.localModules());
    const missing = (await this.pool.query('SELECT digest FROM roam_modules')).rows
      .map((r) => r.digest as string)
      .filter((d) => !known.has(d));
    // Blobs first: a pulled endpoint version never points at a module this replica cannot serve.
    for (const d of missing) {
      const blob = await this.pool.query('SELECT bytes FROM roam_modules WHERE digest = $1', [d]);
      this.modules.put(blob.rows[0].bytes as Buffer, d);
      this.shipped.add(d);
    }
    if (res.rows.length === 0) return 0;
    const tables = this.tables();
    this.db.exec('BEGIN');
    try {
      for (const r of res.rows as { tbl: string; key: string; row: Row | null; deleted: boolean }[]) {
        // A table this replica's State does not have yet (an older version during a rolling update).
        const keys = tables.get(r.tbl);
        if (!keys) continue;
        const where = keys.map((k) => `${k} = ?`).join(' AND ');
        const values = JSON.parse(r.key) as (string | number | null)[];
        if (r.deleted || !r.row) {
          this.db.prepare(`DELETE FROM ${r.tbl} WHERE ${where}`).run(...values);
          this.image.get(r.tbl)!.delete(r.key);
        } else {
          const cols = Object.keys(r.row);
          this.db
            .prepare(
              `INSERT OR REPLACE INTO ${r.tbl} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
            )
            .run(...cols.map((c) => r.row![c] as string | number | null));
          this.image.get(r.tbl)!.set(r.key, JSON.stringify(r.row));
        }
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    this.lastRev = Number(res.rows.at(-1).rev);
    // Our own writes do not move our data_version; note it so the next push does not resend what we pulled.
    this.dataVersion = (
      this.db.prepare('PRAGMA data_version').get() as { data_version: number }
    ).data_version;
    return res.rows.length;
  }

  /**
   * Settles a setting every replica must share from the first start on (the mesh CA, the trust domain)
   * without waiting for a leader: the first replica to offer a value wins, and every replica, this one
   * included, gets the winner's into its working copy. Such a setting never changes afterwards, which is what
   * makes writing it outside the leader's fence safe.
   */
  async settle(name: string, value: unknown): Promise<void> {
    // The row as State.setSetting writes it.
    const key = `setting:${name}`;
    const pk = JSON.stringify([key]);
    await this.pool.query(
      `INSERT INTO roam_rows (tbl, key, row, deleted, rev) VALUES ('meta', $1, $2, false, nextval('roam_rev'))
       ON CONFLICT (tbl, key) DO NOTHING`,
      [pk, JSON.stringify({ key, value: JSON.stringify(value) })],
    );
    const res = await this.pool.query("SELECT row FROM roam_rows WHERE tbl = 'meta' AND key = $1", [pk]);
    const row = res.rows[0].row as { key: string; value: string };
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(row.key, row.value);
    // What PostgreSQL holds: the next push has nothing to send for it.
    this.tables();
    this.image.get('meta')!.set(pk, JSON.stringify(row));
  }

  /** Follower: queues a node's message for the leader, in the order the node sent them. */
  relay(nodeId: string, kind: NodeEvent['kind'], payload: unknown): Promise<void> {
    this.queue = this.queue
      .then(() =>
        this.pool.query(
          'INSERT INTO roam_node_events (replica, node_id, kind, payload) VALUES ($1, $2, $3, $4)',
          [this.replica, nodeId, kind, JSON.stringify(payload ?? null)],
        ),
      )
      .then(() => {});
    return this.queue;
  }

  /** Leader: takes the queued node messages, oldest first, and removes them once `apply` has run. */
  async drainEvents(apply: (event: NodeEvent) => void): Promise<number> {
    const res = await this.pool.query(
      'SELECT seq, node_id, kind, payload FROM roam_node_events ORDER BY seq LIMIT 1000',
    );
    for (const r of res.rows)
      apply({ seq: Number(r.seq), nodeId: r.node_id, kind: r.kind, payload: r.payload });
    if (res.rows.length > 0) {
      await this.pool.query('DELETE FROM roam_node_events WHERE seq <= $1', [res.rows.at(-1).seq]);
    }
    return res.rows.length;
  }

  private localModules(): string[] {
    try {
      return readdirSync(this.modulesDir)
        .filter((f) => /^[0-9a-f]{64}\.wasm$/.test(f))
        .map((f) => `sha256:${f.slice(0, 64)}`);
    } catch {
      return [];
    }
  }
}

/**
 * Sets the control plane's secret (tokens derive from it) to `secret`, as given by a Kubernetes Secret, so
 * every replica and `roam token` agree on it without reading the database. Runs after State created its tables.
 */
export function seedSecret(dataDir: string, secret: string): void {
  const db = new DatabaseSync(join(dataDir, 'roam.db'));
  try {
    db.prepare(
      "INSERT INTO meta (key, value) VALUES ('secret', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(secret);
  } finally {
    db.close();
  }
}
