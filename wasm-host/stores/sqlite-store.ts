// A persistent store on node:sqlite: one database file can hold several named stores. WAL mode so readers in
// other connections do not block the writer.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { DataStore } from './store.ts';

// The highest code point: `prefix + MAX_CHAR` bounds every key that starts with `prefix` from above.
const MAX_CHAR = String.fromCodePoint(0x10ffff);

export class SqliteStore implements DataStore {
  readonly kind = 'sqlite';
  readonly name: string;
  readonly location: string;
  private readonly db: DatabaseSync;
  private readonly getStmt: StatementSync;
  private readonly putStmt: StatementSync;
  private readonly deleteStmt: StatementSync;
  private readonly listStmt: StatementSync;

  constructor(name: string, location: string, path: string) {
    this.name = name;
    this.location = location;
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS kv (
        store TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (store, key)
      ) WITHOUT ROWID;
    `);
    this.getStmt = this.db.prepare('SELECT value FROM kv WHERE store = ? AND key = ?');
    this.putStmt = this.db.prepare(
      'INSERT INTO kv (store, key, value) VALUES (?, ?, ?) ON CONFLICT (store, key) DO UPDATE SET value = excluded.value',
    );
    this.deleteStmt = this.db.prepare('DELETE FROM kv WHERE store = ? AND key = ?');
    this.listStmt = this.db.prepare(
      'SELECT key FROM kv WHERE store = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?',
    );
  }

  get(key: string): Uint8Array | undefined {
    const row = this.getStmt.get(this.name, key) as { value: Uint8Array } | undefined;
    return row?.value;
  }

  put(key: string, value: Uint8Array): void {
    this.putStmt.run(this.name, key, value);
  }

  delete(key: string): boolean {
    return Number(this.deleteStmt.run(this.name, key).changes) > 0;
  }

  list(prefix: string, limit: number): string[] {
    const rows = this.listStmt.all(this.name, prefix, prefix + MAX_CHAR, limit) as { key: string }[];
    return rows.map((r) => r.key);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
