import { fmix32 } from '../../hashing/fmix32.js';

/**
 * Keys (strings) to slot numbers (small non-negative integers chosen by the caller), for a
 * million keys and more with no pause: a JavaScript Map of a million entries rehashes all of
 * them in one `set` when it grows (1.7 s measured on a busy machine at the 524,288th key,
 * beyond any election timeout). Here the keys are spread by hash over SHARDS open-addressing
 * tables in typed arrays; a table that fills up is rebuilt alone, so one insert rehashes at
 * most 1/SHARDS of the keys (a few thousand at a million), and nothing is one large object
 * the garbage collector must copy.
 *
 * Each table is linear probing over pairs (slot + 1, hash), 0 meaning empty, at most half full;
 * deletion shifts the following entries back (no tombstones). The key of each slot is kept
 * here too (paged arrays), so a probe compares the stored hash first and the string only on a
 * hash match.
 */

const SHARD_BITS = 6;
const SHARDS = 1 << SHARD_BITS;
const MIN_PAIRS = 16;
const PAGE_BITS = 14;
const PAGE_SLOTS = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SLOTS - 1;

export class SlotMap {
  /** Per shard: [slot + 1, hash] pairs, a power of two of them. */
  #tables: Int32Array[] = [];
  #counts = new Int32Array(SHARDS);
  /** The key of each slot, by pages of PAGE_SLOTS. */
  #keys: (string | undefined)[][] = [];
  #size = 0;
  #largestRebuild = 0;

  constructor() {
    this.clear();
  }

  get size(): number {
    return this.#size;
  }

  /** The most keys one rebuild re-placed (what the slowest single insert had to move). */
  get largestRebuild(): number {
    return this.#largestRebuild;
  }

  /** Makes room for `n` keys in all (an image being restored knows its count): no rebuild until then. */
  reserve(n: number): void {
    const perShard = Math.ceil(n / SHARDS) * 1.1;
    for (let s = 0; s < SHARDS; s++) {
      let pairs = this.#tables[s].length >>> 1;
      while (perShard * 2 > pairs) pairs *= 2;
      if (pairs !== this.#tables[s].length >>> 1) this.#rebuild(s, pairs);
    }
  }

  /** The key's slot, or -1. */
  get(key: string): number {
    const h = hashKey(key);
    const table = this.#tables[h >>> (32 - SHARD_BITS)];
    const mask = (table.length >>> 1) - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const entry = table[2 * i];
      if (entry === 0) return -1;
      if (table[2 * i + 1] === (h | 0) && this.keyOf(entry - 1) === key) return entry - 1;
    }
  }

  /** The key held in `slot` (undefined for a free slot). */
  keyOf(slot: number): string | undefined {
    return this.#keys[slot >>> PAGE_BITS]?.[slot & PAGE_MASK];
  }

  /** Adds a key that is not held yet, in a slot no other key holds. */
  add(key: string, slot: number): void {
    if (this.getOrAdd(key, slot) >= 0) throw new Error(`SlotMap: ${key} is held already`);
  }

  /** The key's slot if it is held; else adds it in `slot` (a slot no other key holds) and returns -1. */
  getOrAdd(key: string, slot: number): number {
    const h = hashKey(key);
    const shard = h >>> (32 - SHARD_BITS);
    let table = this.#tables[shard];
    let mask = (table.length >>> 1) - 1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const entry = table[2 * i];
      if (entry === 0) break;
      if (table[2 * i + 1] === (h | 0) && this.keyOf(entry - 1) === key) return entry - 1;
    }
    if ((this.#counts[shard] + 1) * 2 > mask + 1) {
      this.#rebuild(shard, 2 * (mask + 1));
      table = this.#tables[shard];
      mask = (table.length >>> 1) - 1;
      for (i = h & mask; table[2 * i] !== 0; i = (i + 1) & mask);
    }
    table[2 * i] = slot + 1;
    table[2 * i + 1] = h;
    this.#counts[shard]++;
    this.#size++;
    const page = slot >>> PAGE_BITS;
    while (this.#keys.length <= page) this.#keys.push([]);
    const keys = this.#keys[page];
    const at = slot & PAGE_MASK;
    // Pages fill in slot order, so this stays a dense array.
    while (keys.length < at) keys.push(undefined);
    keys[at] = key;
    return -1;
  }

  /** Removes a key; returns the slot it held, or -1. */
  delete(key: string): number {
    const h = hashKey(key);
    const shard = h >>> (32 - SHARD_BITS);
    const table = this.#tables[shard];
    const mask = (table.length >>> 1) - 1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const entry = table[2 * i];
      if (entry === 0) return -1;
      if (table[2 * i + 1] === (h | 0) && this.keyOf(entry - 1) === key) break;
    }
    const slot = table[2 * i] - 1;
    // Backward shift: move each following entry of the run into the hole unless its own
    // position lies cyclically in (hole, here].
    let hole = i;
    for (let j = (i + 1) & mask; table[2 * j] !== 0; j = (j + 1) & mask) {
      const home = table[2 * j + 1] & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      table[2 * hole] = table[2 * j];
      table[2 * hole + 1] = table[2 * j + 1];
      hole = j;
    }
    table[2 * hole] = 0;
    table[2 * hole + 1] = 0;
    this.#counts[shard]--;
    this.#size--;
    (this.#keys[slot >>> PAGE_BITS] as (string | undefined)[])[slot & PAGE_MASK] = undefined;
    return slot;
  }

  clear(): void {
    this.#tables = Array.from({ length: SHARDS }, () => new Int32Array(2 * MIN_PAIRS));
    this.#counts.fill(0);
    this.#keys = [];
    this.#size = 0;
  }

  #rebuild(shard: number, pairs: number): void {
    const old = this.#tables[shard];
    const table = new Int32Array(2 * pairs);
    const mask = pairs - 1;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j] === 0) continue;
      let i = old[j + 1] & mask;
      while (table[2 * i] !== 0) i = (i + 1) & mask;
      table[2 * i] = old[j];
      table[2 * i + 1] = old[j + 1];
    }
    this.#tables[shard] = table;
    this.#largestRebuild = Math.max(this.#largestRebuild, this.#counts[shard]);
  }
}

/** FNV-1a over the UTF-16 code units, then murmur3's finaliser (both halves of the bits get used). */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return fmix32(h);
}
