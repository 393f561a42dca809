import { BaseStore } from '../../store/base-store.js';
import { Channel } from '../../store/channel.js';
import { KeyExistsError, KeyModifiedError, KeyNotFoundError } from '../../store/errors.js';
import { isUnder } from '../../store/keys.js';
import { resolveMaxValueBytes } from '../../store/limits.js';
import { TtlLock } from '../../store/ttl-lock.js';
import type { Capabilities, KVPair, Locker } from '../../store/types.js';
import { LocalEnvironment, type StoredRecord } from './environment.js';

type Failure = KeyExistsError | KeyModifiedError | KeyNotFoundError;

/**
 * Durable store in one directory through LMDB: a write resolves once it is synced to disk;
 * compare-and-swap and locks hold across processes (LMDB's writer lock); watches see this
 * process's writes at once and other processes' within a poll of the revision counter.
 */
export class LocalStore extends BaseStore {
  readonly capabilities: Capabilities;
  readonly #env: LocalEnvironment;

  /** `maxValueBytes`: default MAX_VALUE_BYTES (1 MiB), at most 64 MiB. */
  constructor(opts: { path: string; prefix?: string; maxValueBytes?: number }) {
    super(opts.prefix);
    this.capabilities = {
      watch: true,
      watchTree: true,
      locks: true,
      ttl: { minMs: 1, granularityMs: 150 },
      watchCoalesces: true,
      crossProcessWatch: true,
      maxValueBytes: resolveMaxValueBytes(opts.maxValueBytes),
    };
    this.#env = LocalEnvironment.acquire(opts.path);
  }

  protected doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    return this.#env.write((tx) => {
      tx.put(key, value, ttlMs);
      return { changed: [key], result: undefined };
    });
  }

  protected async doGet(key: string): Promise<KVPair | null> {
    return this.#readPair(key);
  }

  protected doDelete(key: string): Promise<void> {
    return this.#env.write((tx) => ({ changed: tx.remove(key) ? [key] : [], result: undefined }));
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    return this.#env.scan(dir).map(toPair);
  }

  protected doDeleteTree(dir: string): Promise<void> {
    return this.#env.write((tx) => {
      const changed = tx.scan(dir).map((record) => record.k);
      for (const key of changed) tx.remove(key);
      return { changed, result: undefined };
    });
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const outcome = await this.#env.write<KVPair | Failure>((tx) => {
      const current = tx.read(key);
      if (previous === null && current)
        return { changed: [], result: new KeyExistsError(this.callerKey(key)) };
      if (previous !== null && current?.r !== previous.lastIndex) {
        return { changed: [], result: new KeyModifiedError(this.callerKey(key)) };
      }
      return { changed: [key], result: toPair(tx.put(key, value, ttlMs)) };
    });
    if (outcome instanceof Error) throw outcome;
    return outcome;
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const failure = await this.#env.write<Failure | null>((tx) => {
      const current = tx.read(key);
      if (!current) return { changed: [], result: new KeyNotFoundError(this.callerKey(key)) };
      if (current.r !== previous.lastIndex)
        return { changed: [], result: new KeyModifiedError(this.callerKey(key)) };
      tx.remove(key);
      return { changed: [key], result: null };
    });
    if (failure) throw failure;
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    return this.#feed(
      signal,
      (keys) => keys === null || keys.includes(key),
      () => this.#readPair(key),
    );
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    return this.#feed(
      signal,
      (keys) => keys === null || keys.some((k) => isUnder(k, dir)),
      () => this.#env.scan(dir).map(toPair),
    );
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    return new TtlLock(this, this.callerKey(key), value, ttlMs);
  }

  protected doClose(): Promise<void> {
    return this.#env.release();
  }

  #readPair(key: string): KVPair | null {
    const record = this.#env.read(key);
    return record && toPair(record);
  }

  /**
   * Re-reads the watched state after each relevant change: one state per commit of this
   * process, coalesced only across other processes' commits seen by one poll.
   */
  #feed<T>(signal: AbortSignal, relevant: (keys: string[] | null) => boolean, read: () => T): Channel<T> {
    const channel = new Channel<T>({ signal, onEnd: () => unsubscribe() });
    const unsubscribe = this.#env.subscribe((keys) => {
      if (relevant(keys)) channel.push(read());
    });
    channel.push(read());
    return channel;
  }
}

function toPair(record: StoredRecord): KVPair {
  return { key: record.k, value: new Uint8Array(record.v), lastIndex: record.r };
}
