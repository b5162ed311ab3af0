// Named data stores (the ABI's kv_* host functions). The mesh decides where a store lives; every access is
// accounted by the host, which is how Roam learns an endpoint's data locality.
import { kv_delete, kv_get, kv_list, kv_put, result_read } from "./host";

/** Status of the last failed store operation: 0 none, -2 store error (unreachable, misconfigured, too large). */
export let lastStoreError: i32 = 0;

function readResult(len: i32): Uint8Array {
  const out = new Uint8Array(len);
  if (len > 0) result_read(out.dataStart, len);
  return out;
}

export class Store {
  readonly name: string;
  private readonly nameBytes: ArrayBuffer;

  constructor(name: string) {
    this.name = name;
    this.nameBytes = String.UTF8.encode(name);
  }

  /** The value, or null when the key is absent or the store failed (see lastStoreError). */
  get(key: string): Uint8Array | null {
    const k = String.UTF8.encode(key);
    const n = kv_get(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, changetype<usize>(k), k.byteLength);
    if (n == -1) return null;
    if (n < 0) {
      lastStoreError = n;
      return null;
    }
    return readResult(n);
  }

  getString(key: string): string | null {
    const v = this.get(key);
    return v == null ? null : String.UTF8.decodeUnsafe(v.dataStart, <usize>v.length);
  }

  /** False when the store failed. */
  put(key: string, value: Uint8Array): bool {
    const k = String.UTF8.encode(key);
    const r = kv_put(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, changetype<usize>(k), k.byteLength, value.dataStart, value.length);
    if (r < 0) lastStoreError = r;
    return r == 0;
  }

  putString(key: string, value: string): bool {
    return this.put(key, Uint8Array.wrap(String.UTF8.encode(value)));
  }

  /** True if a key was deleted. */
  delete(key: string): bool {
    const k = String.UTF8.encode(key);
    const r = kv_delete(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, changetype<usize>(k), k.byteLength);
    if (r < 0) lastStoreError = r;
    return r == 1;
  }

  /** Keys starting with `prefix`, in byte order, at most `limit`; empty on a store error. */
  list(prefix: string, limit: i32 = 1000): string[] {
    const p = String.UTF8.encode(prefix);
    const n = kv_list(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, changetype<usize>(p), p.byteLength, limit);
    const keys = new Array<string>();
    if (n < 0) {
      lastStoreError = n;
      return keys;
    }
    const buf = readResult(n);
    let at: usize = buf.dataStart;
    const end = at + <usize>n;
    if (n < 4) return keys;
    const count = load<u32>(at);
    at += 4;
    for (let i: u32 = 0; i < count && at + 4 <= end; i++) {
      const len = <usize>load<u32>(at);
      at += 4;
      if (at + len > end) break;
      keys.push(String.UTF8.decodeUnsafe(at, len));
      at += len;
    }
    return keys;
  }
}
