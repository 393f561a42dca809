import { BaseStore } from '../../store/base-store.js';
import { Channel } from '../../store/channel.js';
import { KeyExistsError, KeyModifiedError, KeyNotFoundError } from '../../store/errors.js';
import { isUnder } from '../../store/keys.js';
import { resolveMaxValueBytes } from '../../store/limits.js';
import { TtlLock } from '../../store/ttl-lock.js';
import type { Capabilities, KVPair, Locker } from '../../store/types.js';
import { KeySpace } from './key-space.js';

const shared = new Map<string, { space: KeySpace; stores: number }>();

/**
 * In-process store, complete (watch, TTL, locks): for tests and examples. Unnamed stores are
 * private; stores opened with one name share a key space until the last of them closes.
 */
export class MemoryStore extends BaseStore {
  readonly capabilities: Capabilities;
  readonly #space: KeySpace;
  readonly #name: string | undefined;

  /** `maxValueBytes`: default MAX_VALUE_BYTES (1 MiB), at most 64 MiB. */
  constructor(opts: { name?: string; prefix?: string; maxValueBytes?: number } = {}) {
    super(opts.prefix);
    this.capabilities = {
      watch: true,
      watchTree: true,
      locks: true,
      ttl: { minMs: 1, granularityMs: 5 },
      watchCoalesces: false,
      crossProcessWatch: false,
      maxValueBytes: resolveMaxValueBytes(opts.maxValueBytes),
    };
    this.#name = opts.name;
    if (opts.name === undefined) {
      this.#space = new KeySpace();
    } else {
      const entry = shared.get(opts.name) ?? { space: new KeySpace(), stores: 0 };
      entry.stores++;
      shared.set(opts.name, entry);
      this.#space = entry.space;
    }
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    this.#space.set(key, value, ttlMs);
  }

  protected async doGet(key: string): Promise<KVPair | null> {
    return this.#space.get(key);
  }

  protected async doDelete(key: string): Promise<void> {
    this.#space.remove(key);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    return this.#space.list(dir);
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    for (const pair of this.#space.list(dir)) this.#space.remove(pair.key);
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const current = this.#space.get(key);
    if (previous === null) {
      if (current) throw new KeyExistsError(key);
    } else if (!current || current.lastIndex !== previous.lastIndex) {
      throw new KeyModifiedError(key);
    }
    return this.#space.set(key, value, ttlMs);
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const current = this.#space.get(key);
    if (!current) throw new KeyNotFoundError(key);
    if (current.lastIndex !== previous.lastIndex) throw new KeyModifiedError(key);
    this.#space.remove(key);
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    const channel = new Channel<KVPair | null>({ signal, onEnd: () => unsubscribe() });
    const unsubscribe = this.#space.subscribe((changed, state) => {
      if (changed === key) channel.push(state);
    });
    channel.push(this.#space.get(key));
    return channel;
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    const channel = new Channel<KVPair[]>({ signal, onEnd: () => unsubscribe() });
    const unsubscribe = this.#space.subscribe((changed) => {
      if (isUnder(changed, dir)) channel.push(this.#space.list(dir));
    });
    channel.push(this.#space.list(dir));
    return channel;
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    return new TtlLock(this, this.callerKey(key), value, ttlMs);
  }

  protected async doClose(): Promise<void> {
    if (this.#name === undefined) {
      this.#space.clear();
      return;
    }
    const entry = shared.get(this.#name);
    if (entry && --entry.stores === 0) {
      entry.space.clear();
      shared.delete(this.#name);
    }
  }
}
