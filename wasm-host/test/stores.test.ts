// The same store contract holds for every kind of store: in memory, on SQLite, and remote over the network
// (a real host process serving its store). SQLite keeps data across a reopen.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost, stopAll } from '../../test/support/processes.ts';
import {
  createStore,
  type DataStore,
  MemoryStore,
  parseStoreFlag,
  RemoteStore,
  SqliteStore,
} from '../index.ts';

const dir = mkdtempSync(join(tmpdir(), 'roam-stores-'));
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

let remoteUrl = '';
beforeAll(async () => {
  const host = await startHost('cluster', ['remote=memory']);
  remoteUrl = host.url;
});
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

const kinds: [string, () => DataStore][] = [
  ['memory', () => new MemoryStore('carts', 'here')],
  ['sqlite', () => new SqliteStore('carts', 'here', join(dir, `s-${Math.random()}.db`))],
  ['remote', () => new RemoteStore('remote', 'there', remoteUrl)],
];

describe.each(kinds)('%s store', (_kind, make) => {
  it('gets, puts, deletes and lists by prefix in byte order', async () => {
    const s = make();
    expect(await s.get('missing')).toBeUndefined();
    await s.put('user:2', enc('b'));
    await s.put('user:1', enc('a'));
    await s.put('user:10', enc('c'));
    await s.put('other', enc('x'));
    await s.put('user:é', enc('accent'));
    expect(dec(await s.get('user:1'))).toBe('a');
    expect(await s.list('user:', 100)).toEqual(['user:1', 'user:10', 'user:2', 'user:é']);
    expect(await s.list('user:', 2)).toEqual(['user:1', 'user:10']);
    expect(await s.list('nope', 10)).toEqual([]);
    await s.put('user:1', enc('overwritten'));
    expect(dec(await s.get('user:1'))).toBe('overwritten');
    expect(await s.delete('user:1')).toBe(true);
    expect(await s.delete('user:1')).toBe(false);
    expect(await s.get('user:1')).toBeUndefined();
    for (const k of await s.list('', 100)) await s.delete(k);
    await s.close();
  });

  it('stores binary values unchanged, including empty ones', async () => {
    const s = make();
    const bytes = new Uint8Array(256).map((_, i) => i);
    await s.put('bin', bytes);
    await s.put('empty', new Uint8Array(0));
    expect(Array.from((await s.get('bin'))!)).toEqual(Array.from(bytes));
    expect((await s.get('empty'))!.length).toBe(0);
    await s.delete('bin');
    await s.delete('empty');
    await s.close();
  });
});

describe('sqlite store', () => {
  it('keeps data across a reopen, and keeps stores in one file apart', () => {
    const file = join(dir, 'persist.db');
    const a = new SqliteStore('a', 'here', file);
    const b = new SqliteStore('b', 'here', file);
    a.put('k', enc('from a'));
    b.put('k', enc('from b'));
    a.close();
    b.close();
    const again = new SqliteStore('a', 'here', file);
    expect(dec(again.get('k'))).toBe('from a');
    again.close();
  });
});

describe('remote store', () => {
  it('fails with a store error naming the store when its host is unreachable', async () => {
    const s = new RemoteStore('gone', 'nowhere', 'http://127.0.0.1:9');
    await expect(s.get('k')).rejects.toMatchObject({
      code: 'ROAM_ERR_STORE',
      message: expect.stringContaining('"gone"'),
    });
    await s.close();
  });
});

describe('store flags', () => {
  it('parses NAME=SPEC[@LOCATION] and refuses bad specs with the reason', () => {
    expect(parseStoreFlag('carts=memory')).toEqual({ name: 'carts', spec: 'memory' });
    expect(parseStoreFlag('carts=sqlite:/tmp/x.db@edge-1')).toEqual({
      name: 'carts',
      spec: 'sqlite:/tmp/x.db',
      location: 'edge-1',
    });
    expect(parseStoreFlag('carts=http://127.0.0.1:7000').spec).toBe('http://127.0.0.1:7000');
    expect(() => parseStoreFlag('carts')).toThrow(/NAME=SPEC/);
    expect(() => createStore({ name: 'carts', spec: 'redis://x' }, 'here')).toThrow(
      /unknown spec "redis:\/\/x"/,
    );
    expect(() => createStore({ name: 'bad name', spec: 'memory' }, 'here')).toThrow(/store name/);
    const remote = createStore({ name: 'c', spec: 'http://127.0.0.1:7000' }, 'here');
    expect(remote.location).toBe('127.0.0.1:7000');
    void remote.close();
  });
});
