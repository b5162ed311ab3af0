// The data store interface endpoints reach through the `kv_*` host functions. Local stores answer
// synchronously (no suspension of the calling module); remote ones return promises (the module suspends
// through JSPI while the request is on the network).

export type MaybePromise<T> = T | Promise<T>;

export interface DataStore {
  readonly name: string;
  /** Where the store lives (a host id or site); with the measured round trip it prices access from elsewhere. */
  readonly location: string;
  /** "memory", "sqlite" or "remote". */
  readonly kind: string;
  get(key: string): MaybePromise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): MaybePromise<void>;
  delete(key: string): MaybePromise<boolean>;
  /** Keys starting with `prefix`, in byte order, at most `limit`. */
  list(prefix: string, limit: number): MaybePromise<string[]>;
  close(): MaybePromise<void>;
}
