// Builds stores from their specs ("memory", "sqlite:PATH", "http://HOST:PORT") and resolves them by name.
import { InvalidArgumentError } from '../../core/errors.ts';
import { checkName } from '../../core/names.ts';
import { MemoryStore } from './memory-store.ts';
import { RemoteStore } from './remote-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { DataStore } from './store.ts';

export type { DataStore, MaybePromise } from './store.ts';
export { MemoryStore, RemoteStore, SqliteStore };

export interface StoreSpec {
  name: string;
  /** "memory", "sqlite:PATH" or an http(s) URL of the host that owns the store. */
  spec: string;
  /** Where the store lives; defaults to this host for local stores and the URL's host:port for remote ones. */
  location?: string;
}

/** Parses a `--store NAME=SPEC[@LOCATION]` command-line value. */
export function parseStoreFlag(value: string): StoreSpec {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--store expects NAME=SPEC, got "${value}"`);
  const name = value.slice(0, eq);
  let spec = value.slice(eq + 1);
  let location: string | undefined;
  const at = spec.lastIndexOf('@');
  if (at > 0 && !spec.slice(at).includes('/')) {
    location = spec.slice(at + 1);
    spec = spec.slice(0, at);
  }
  return location === undefined ? { name, spec } : { name, spec, location };
}

export function createStore(s: StoreSpec, localLocation: string, token?: string): DataStore {
  checkName(s.name, 'store');
  if (s.spec === 'memory') return new MemoryStore(s.name, s.location ?? localLocation);
  if (s.spec.startsWith('sqlite:'))
    return new SqliteStore(s.name, s.location ?? localLocation, s.spec.slice(7));
  if (s.spec.startsWith('http://') || s.spec.startsWith('https://')) {
    const url = new URL(s.spec);
    return new RemoteStore(s.name, s.location ?? url.host, url.origin, token ? { token } : {});
  }
  throw new InvalidArgumentError(
    `store "${s.name}": unknown spec "${s.spec}" (expected memory, sqlite:PATH or http://HOST:PORT)`,
  );
}
