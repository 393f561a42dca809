import type { KVPair } from '../store/types.js';
import type { Versioned } from './cas.js';

/**
 * One watched directory's records, each decoded once per version (key + lastIndex): a record
 * that did not change is the same object in the next list, so readers may keep what they
 * derived from it (the DNS record builder does, the manager compares by identity). A record
 * that does not decode (damaged) is left out and must not stop the readers.
 */
export class DecodedDir<T> {
  readonly #decode: (pair: KVPair) => T | null;
  #byKey = new Map<string, { pair: KVPair; value: T | null }>();
  #list: Versioned<T>[] = [];
  #values: T[] = [];
  #from: readonly KVPair[] | null = null;

  constructor(decode: (pair: KVPair) => T | null) {
    this.#decode = decode;
  }

  /** True once a list was taken. */
  get loaded(): boolean {
    return this.#from !== null;
  }

  /**
   * Takes the directory's latest list (as a watchTree yields it). Returns the keys that are new
   * or changed, and those that are gone, since the previous list.
   */
  update(pairs: readonly KVPair[]): { changed: string[]; removed: string[] } {
    if (pairs === this.#from) return { changed: [], removed: [] };
    const next = new Map<string, { pair: KVPair; value: T | null }>();
    const changed: string[] = [];
    const list: Versioned<T>[] = [];
    const values: T[] = [];
    for (const pair of pairs) {
      let hit = this.#byKey.get(pair.key);
      if (hit?.pair.lastIndex !== pair.lastIndex) {
        let value: T | null;
        try {
          value = this.#decode(pair);
        } catch {
          value = null;
        }
        hit = { pair, value };
        changed.push(pair.key);
      }
      next.set(pair.key, hit);
      if (hit.value !== null) {
        list.push(hit as Versioned<T>);
        values.push(hit.value);
      }
    }
    const removed = [...this.#byKey.keys()].filter((key) => !next.has(key));
    this.#from = pairs;
    if (changed.length === 0 && removed.length === 0) return { changed, removed };
    this.#byKey = next;
    this.#list = list;
    this.#values = values;
    return { changed, removed };
  }

  get(key: string): Versioned<T> | undefined {
    const hit = this.#byKey.get(key);
    return hit && hit.value !== null ? (hit as Versioned<T>) : undefined;
  }

  /** Records with their pairs, by key; the same array until the next changed list. */
  entries(): readonly Versioned<T>[] {
    return this.#list;
  }

  /** The decoded records, by key; the same array until the next changed list. */
  values(): T[] {
    return this.#values;
  }
}
