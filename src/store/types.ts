/**
 * The whole kvkit contract on one screen: the pair, the options, the store and the lock.
 * Every backend implements {@link Store}; everything above the backends (discovery, network
 * state, the CLI) is written against it alone.
 */

/** A value as callers may pass it: bytes, or a string stored as UTF-8. */
export type Value = Uint8Array | string;

/** One key with its value and the index of its last change. */
export interface KVPair {
  /** The key, normalised: no leading `/`. */
  key: string;
  /** The value, byte for byte as written. */
  value: Uint8Array;
  /** > 0, and strictly greater after every change of this key (the backend's revision/index). */
  lastIndex: number;
}

/** TTL support of a backend. */
export interface TtlCapability {
  /** The smallest TTL the backend honours; shorter TTLs are rounded up to it (ms). */
  minMs: number;
  /** Expiry happens within this much after the TTL has passed (ms). */
  granularityMs: number;
}

/** What a backend can do. A call it cannot serve rejects with `CALL_NOT_SUPPORTED`. */
export interface Capabilities {
  watch: boolean;
  watchTree: boolean;
  locks: boolean;
  /** null: keys cannot carry a TTL. */
  ttl: TtlCapability | null;
  /** true: a watch may skip intermediate states (it always delivers the latest one). */
  watchCoalesces: boolean;
  /** true: watches also see changes made by other processes on the same store. */
  crossProcessWatch: boolean;
  /** The largest value a put accepts, in bytes; a larger one rejects with `VALUE_TOO_LARGE` before anything is sent. */
  maxValueBytes: number;
}

export interface PutOptions {
  /**
   * Time to live in milliseconds, at most `MAX_TTL_MS` (366 days); the key is deleted once it
   * passes. Rewriting restarts it.
   */
  ttl?: number;
}

export interface GetOptions {
  /** false: the backend may serve a local (possibly stale) read. Default true. */
  consistent?: boolean;
}

export interface WatchOptions {
  /** Ends the watch cleanly when aborted. */
  signal?: AbortSignal;
}

export interface LockOptions {
  /** The lock key's value while held (`get(lockKey)` returns it). */
  value?: Value;
  /** How long a holder that stopped refreshing (crashed, closed) keeps the lock, in ms (at most `MAX_TTL_MS`). */
  ttl?: number;
}

export interface LockAcquireOptions {
  /** Gives up waiting when aborted (rejects with the signal's reason as `cause`). */
  signal?: AbortSignal;
}

export interface Locker extends AsyncDisposable {
  /** Resolves once held, with a signal that aborts if the lock is later lost. */
  lock(opts?: LockAcquireOptions): Promise<AbortSignal>;
  /** Releases the lock; rejects with `CANNOT_LOCK` when it is not held. */
  unlock(): Promise<void>;
}

export interface Store extends AsyncDisposable {
  readonly capabilities: Capabilities;
  put(key: string, value: Value, opts?: PutOptions): Promise<void>;
  /** Rejects with `KEY_NOT_FOUND` when absent. */
  get(key: string, opts?: GetOptions): Promise<KVPair>;
  /** Idempotent: deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /**
   * The keys under `prefix` as a directory, sorted by key; [] when none. Consistent on every
   * backend: it sees every write acknowledged before the call, like `get`'s default.
   */
  list(prefix: string): Promise<KVPair[]>;
  deleteTree(prefix: string): Promise<void>;
  /** Create (previous null) or compare-and-swap on `previous.lastIndex`; returns the new pair. */
  atomicPut(key: string, value: Value, previous: KVPair | null, opts?: PutOptions): Promise<KVPair>;
  /** Delete only if unchanged since `previous`. */
  atomicDelete(key: string, previous: KVPair): Promise<void>;
  /** The current state first (null when absent), then every later state in order. */
  watch(key: string, opts?: WatchOptions): AsyncIterable<KVPair | null>;
  /** The full sorted list under `prefix` first, then the full list after each change. */
  watchTree(prefix: string, opts?: WatchOptions): AsyncIterable<KVPair[]>;
  newLock(key: string, opts?: LockOptions): Locker;
  /** Ends open watches; every later call rejects with `CLOSED`. */
  close(): Promise<void>;
}

export type BackendName = 'memory' | 'local' | 'etcd' | 'consul' | 'zk' | 'raft' | 'redis';

/** TLS material as PEM strings or bytes. */
export interface TlsOptions {
  ca?: string | Uint8Array;
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  /** Server name to verify against, when it differs from the endpoint host. */
  servername?: string;
  /** Default true. */
  rejectUnauthorized?: boolean;
}

export interface StoreOptions {
  /** A built-in backend, or the name of one added with `registerBackend`. */
  backend: BackendName | (string & {});
  /** `host:port` of the servers (remote backends), or the store name (`memory`). */
  endpoints?: string[];
  /** Directory of the `local` backend. */
  path?: string;
  /** A key prefix the store lives under, invisible to the caller. */
  prefix?: string;
  tls?: TlsOptions;
  username?: string;
  password?: string;
  /** ACL token (Consul) or bearer token. */
  token?: string;
  /** A server that does not answer within this gives `NOT_REACHABLE`. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * The largest value a put accepts (`capabilities.maxValueBytes`), where the backend lets it
   * be configured: memory, local and raft default to `MAX_VALUE_BYTES` (1 MiB), at most 64 MiB.
   */
  maxValueBytes?: number;
  /** Backend-specific URL query parameters (those the backend registered), as given. */
  params?: Record<string, string>;
}
