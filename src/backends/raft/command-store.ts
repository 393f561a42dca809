import type { KvCommand, KvResult } from '../../raft/kv/index.js';
import { BaseStore } from '../../store/base-store.js';
import {
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  KVError,
  TimeoutError,
} from '../../store/errors.js';
import { resolveMaxValueBytes } from '../../store/limits.js';
import type { Capabilities, KVPair, Locker } from '../../store/types.js';
import { type LockHost, RaftLock } from './raft-lock.js';

/** The shortest TTL a key or lock gets on the Raft stores (ms); see `capabilities.ttl`. */
export const MIN_TTL_MS = 3000;

/**
 * What the embedded and the `raft://` stores share: every write is a command of the
 * replicated key space submitted as this store's client session, and locks are the state
 * machine's ordered lease locks. They differ only in how commands, reads and watches travel.
 */
export abstract class RaftCommandStore extends BaseStore implements LockHost {
  readonly capabilities: Capabilities;

  /**
   * `maxValueBytes`: the largest value this store sends (VALUE_TOO_LARGE above, before any
   * I/O); default MAX_VALUE_BYTES (1 MiB), the node's own default. Give the node's
   * `--max-value-bytes` here (`raft://…?maxValueBytes=`) when it runs with another.
   */
  constructor(prefix?: string, maxValueBytes?: number) {
    super(prefix);
    this.capabilities = commandStoreCapabilities(resolveMaxValueBytes(maxValueBytes));
  }

  abstract readonly clientId: string;
  /** Proposes a command as this store's session (a retry keeps its sequence number). */
  abstract submit(cmd: KvCommand): Promise<KvResult>;
  abstract waitForLock(key: string, owner: string, lease: number, signal: AbortSignal): Promise<void>;
  abstract watchLock(key: string, owner: string, onLost: () => void): () => void;

  /** Aborts when this store closes (locks stop their keep-alives on it). */
  get closing(): AbortSignal {
    return this.closeSignal;
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    await this.submit({ op: 'put', key, value, ttlMs });
  }

  protected async doDelete(key: string): Promise<void> {
    await this.submit({ op: 'del', key });
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    await this.submit({ op: 'delTree', dir });
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const result = await this.submit({ op: 'cas', key, value, prev: previous?.lastIndex ?? 0, ttlMs });
    if (!result.ok) throw resultError(result, this.callerKey(key));
    return { key, value, lastIndex: result.revision };
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const result = await this.submit({ op: 'cad', key, prev: previous.lastIndex });
    if (!result.ok) throw resultError(result, this.callerKey(key));
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    return new RaftLock(this, key, value, ttlMs);
  }
}

function resultError(result: Extract<KvResult, { ok: false }>, key: string): KVError {
  switch (result.code) {
    case 'KEY_EXISTS':
      return new KeyExistsError(key);
    case 'KEY_MODIFIED':
      return new KeyModifiedError(key);
    case 'KEY_NOT_FOUND':
      return new KeyNotFoundError(key);
    case 'ALREADY_APPLIED':
      // A retry of a write applied long ago whose answer is gone: the outcome is unknown to us.
      return new TimeoutError(`the write of ${key} was applied, but its answer was lost; read it back`);
    default:
      return new KVError(result.code, `${result.code} for ${key}`);
  }
}

function commandStoreCapabilities(maxValueBytes: number): Capabilities {
  return {
    watch: true,
    watchTree: true,
    locks: true,
    // A lease must outlive a leader change and a busy leader: it is kept alive by proposals
    // that the leader applies on its own event loop, and a new leader is elected 1–1.9 s after
    // the old one goes quiet (default ticks). etcd's floor is 1.5 election timeouts; this is
    // that for the longest default timeout (3 s). Shorter TTLs are rounded up to it. Expiry:
    // the leader's lease clock checks every 25 ms; the revoke then commits like any write.
    ttl: { minMs: MIN_TTL_MS, granularityMs: 250 },
    watchCoalesces: false,
    crossProcessWatch: true,
    maxValueBytes,
  };
}
