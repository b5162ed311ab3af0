// A store that lives on another host, reached over HTTP (the standalone host's /stores API) with undici's
// keep-alive pool. Every operation pays the network round trip, which is what data locality measures.
import type { Pool } from 'undici';
import { StoreError } from '../../core/errors.ts';
import { meshConnector } from '../../core/network.ts';
import { undici } from '../../core/undici.ts';
import type { DataStore } from './store.ts';

export class RemoteStore implements DataStore {
  readonly kind = 'remote';
  readonly name: string;
  readonly location: string;
  /** The owning host's origin, http://HOST:PORT (network probes measure the round trip to it). */
  readonly url: string;
  private readonly pool: Pool;
  private readonly base: string;

  /** `url` is the owning host's address, e.g. http://127.0.0.1:7001. */
  constructor(name: string, location: string, url: string, options: { token?: string } = {}) {
    this.name = name;
    this.location = location;
    this.url = url;
    this.pool = new (undici().Pool)(url, { connections: 16, pipelining: 1, connect: meshConnector() });
    this.base = `/stores/${encodeURIComponent(name)}`;
    this.headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
  }

  private readonly headers: Record<string, string>;

  private keyPath(key: string): string {
    return `${this.base}/keys/${encodeURIComponent(key)}`;
  }

  private async request(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: Uint8Array) {
    try {
      const res = await this.pool.request({ method, path, body, headers: this.headers });
      const bytes = new Uint8Array(await res.body.arrayBuffer());
      return { status: res.statusCode, bytes };
    } catch (err) {
      throw new StoreError(
        `store "${this.name}" at ${this.location} unreachable: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  private fail(op: string, status: number, bytes: Uint8Array): never {
    throw new StoreError(
      `store "${this.name}" ${op} failed with ${status}: ${Buffer.from(bytes).toString()}`,
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const { status, bytes } = await this.request('GET', this.keyPath(key));
    if (status === 404) return undefined;
    if (status !== 200) this.fail('get', status, bytes);
    return bytes;
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const { status, bytes } = await this.request('PUT', this.keyPath(key), value);
    if (status !== 204 && status !== 200) this.fail('put', status, bytes);
  }

  async delete(key: string): Promise<boolean> {
    const { status, bytes } = await this.request('DELETE', this.keyPath(key));
    if (status === 404) return false;
    if (status !== 204 && status !== 200) this.fail('delete', status, bytes);
    return true;
  }

  async list(prefix: string, limit: number): Promise<string[]> {
    const qs = `?prefix=${encodeURIComponent(prefix)}&limit=${limit}`;
    const { status, bytes } = await this.request('GET', `${this.base}/keys${qs}`);
    if (status !== 200) this.fail('list', status, bytes);
    return (JSON.parse(Buffer.from(bytes).toString()) as { keys: string[] }).keys;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
