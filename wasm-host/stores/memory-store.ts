// The in-memory default store: a Map per store, lost on restart. Fine for development and for caches.
import type { DataStore } from './store.ts';

export class MemoryStore implements DataStore {
  readonly kind = 'memory';
  readonly name: string;
  readonly location: string;
  private readonly data = new Map<string, Uint8Array>();

  constructor(name: string, location: string) {
    this.name = name;
    this.location = location;
  }

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  put(key: string, value: Uint8Array): void {
    // Copy: the caller's view may point into a module's memory that changes after the call.
    this.data.set(key, value.slice());
  }

  delete(key: string): boolean {
    return this.data.delete(key);
  }

  list(prefix: string, limit: number): string[] {
    const keys: string[] = [];
    for (const key of this.data.keys()) if (key.startsWith(prefix)) keys.push(key);
    keys.sort(compareBytes);
    return keys.length > limit ? keys.slice(0, limit) : keys;
  }

  close(): void {
    this.data.clear();
  }
}

/** Byte order of the UTF-8 encodings, which for strings is code point order (what SQLite's BINARY gives). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
