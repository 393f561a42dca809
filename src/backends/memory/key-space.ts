import { isUnder } from '../../store/keys.js';
import type { KVPair } from '../../store/types.js';
import { type LongTimeout, setLongTimeout } from '../../time/long-timeout.js';

type Entry = { pair: KVPair; expiry: LongTimeout | null };
export type ChangeListener = (key: string, state: KVPair | null) => void;

/**
 * The state behind one memory store (or several sharing a name): keys with revisions from one
 * counter, TTL timers, and change listeners fired synchronously, in order, after each change.
 */
export class KeySpace {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<ChangeListener>();
  #revision = 0;

  get(key: string): KVPair | null {
    return this.#entries.get(key)?.pair ?? null;
  }

  list(dir: string): KVPair[] {
    const out: KVPair[] = [];
    for (const [key, entry] of this.#entries) if (isUnder(key, dir)) out.push(entry.pair);
    return out;
  }

  set(key: string, value: Uint8Array, ttlMs: number | undefined): KVPair {
    const old = this.#entries.get(key);
    old?.expiry?.cancel();
    const pair: KVPair = { key, value, lastIndex: ++this.#revision };
    // Any TTL up to MAX_TTL_MS: a plain setTimeout past 2^31-1 ms would fire at once.
    const expiry =
      ttlMs === undefined ? null : setLongTimeout(() => this.#expire(key, pair), ttlMs, { unref: true });
    this.#entries.set(key, { pair, expiry });
    this.#emit(key, pair);
    return pair;
  }

  remove(key: string): boolean {
    const old = this.#entries.get(key);
    if (!old) return false;
    old.expiry?.cancel();
    this.#entries.delete(key);
    this.#revision++;
    this.#emit(key, null);
    return true;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Drops every key and timer (the last store of a shared name closed). */
  clear(): void {
    for (const entry of this.#entries.values()) entry.expiry?.cancel();
    this.#entries.clear();
    this.#listeners.clear();
  }

  #expire(key: string, pair: KVPair): void {
    if (this.#entries.get(key)?.pair === pair) this.remove(key);
  }

  #emit(key: string, state: KVPair | null): void {
    for (const listener of [...this.#listeners]) listener(key, state);
  }
}
