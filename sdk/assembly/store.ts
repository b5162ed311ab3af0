// Named data stores (the ABI's kv_* host functions). The mesh decides where a store lives; every access is
// accounted by the host, which is how Roam learns an endpoint's data locality. AssemblyScript has no
// exceptions, so failures are values: null / false / [] plus `lastError` on the store.
import { kv_delete, kv_get, kv_list, kv_put, result_read } from "./host";
import { releaseScratch, takeScratch, writeUtf8 } from "./wire";

/** `Store.lastError` after a failed operation: the store is unreachable, misconfigured, or a size limit was hit. */
export const STORE_ERROR: i32 = -2;

export class Store {
  readonly name: string;
  /** 0 if the last operation on this store succeeded (an absent key is a success), else STORE_ERROR. */
  lastError: i32 = 0;
  private readonly nameBytes: ArrayBuffer;

  constructor(name: string) {
    this.name = name;
    this.nameBytes = String.UTF8.encode(name);
  }

  /** The value, or null when the key is absent or the store failed (then lastError != 0). */
  get(key: string): Uint8Array | null {
    const k = takeScratch(<usize>String.UTF8.byteLength(key));
    const kl = writeUtf8(key, k);
    const n = kv_get(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, k, <i32>kl);
    releaseScratch(k);
    if (n < 0) {
      this.lastError = n == -1 ? 0 : n;
      return null;
    }
    this.lastError = 0;
    const out = new Uint8Array(n);
    if (n > 0) result_read(out.dataStart, n);
    return out;
  }

  /** The value as UTF-8 text, or null (see get). */
  getString(key: string): string | null {
    const v = this.get(key);
    return v == null ? null : String.UTF8.decodeUnsafe(v.dataStart, <usize>v.length);
  }

  /** Stores a value: bytes (Uint8Array) as they are, text (string) as UTF-8. False when the store failed. */
  put<T>(key: string, value: T): bool {
    const keyLen = <usize>String.UTF8.byteLength(key);
    let r: i32;
    if (isString<T>()) {
      const text = changetype<string>(value);
      const buf = takeScratch(keyLen + <usize>String.UTF8.byteLength(text));
      writeUtf8(key, buf);
      const vl = writeUtf8(text, buf + keyLen);
      r = kv_put(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, buf, <i32>keyLen, buf + keyLen, <i32>vl);
      releaseScratch(buf);
    } else if (value instanceof Uint8Array) {
      const buf = takeScratch(keyLen);
      writeUtf8(key, buf);
      r = kv_put(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, buf, <i32>keyLen, value.dataStart, value.length);
      releaseScratch(buf);
    } else {
      ERROR("Store.put takes a string or a Uint8Array");
      return false;
    }
    this.lastError = r < 0 ? r : 0;
    return r == 0;
  }

  /** Same as put(key, text). */
  putString(key: string, value: string): bool {
    return this.put<string>(key, value);
  }

  /** True if a key was deleted; false if it was absent or the store failed (then lastError != 0). */
  delete(key: string): bool {
    const k = takeScratch(<usize>String.UTF8.byteLength(key));
    const kl = writeUtf8(key, k);
    const r = kv_delete(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, k, <i32>kl);
    releaseScratch(k);
    this.lastError = r < 0 ? r : 0;
    return r == 1;
  }

  /** Keys starting with `prefix`, in byte order, at most `limit`; empty on a store error (lastError != 0). */
  list(prefix: string, limit: i32 = 1000): string[] {
    const p = takeScratch(<usize>String.UTF8.byteLength(prefix));
    const pl = writeUtf8(prefix, p);
    const n = kv_list(changetype<usize>(this.nameBytes), this.nameBytes.byteLength, p, <i32>pl, limit);
    releaseScratch(p);
    const keys = new Array<string>();
    if (n < 0) {
      this.lastError = n;
      return keys;
    }
    this.lastError = 0;
    if (n < 4) return keys;
    // Staged as u32 count, then u32 length + bytes per key: read into scratch memory and decoded from there.
    const buf = takeScratch(<usize>n);
    const got = <usize>max(result_read(buf, n), 0);
    const end = buf + got;
    let at = buf;
    const count = got >= 4 ? load<u32>(at) : 0;
    at += 4;
    for (let i: u32 = 0; i < count && end - at >= 4; i++) {
      const len = <usize>load<u32>(at);
      at += 4;
      if (end - at < len) break;
      keys.push(String.UTF8.decodeUnsafe(at, len));
      at += len;
    }
    releaseScratch(buf);
    return keys;
  }
}
