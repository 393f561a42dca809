/**
 * An ordered set of keys with prefix ranges, for list/watchTree over a sorted key space.
 *
 * Kept as a list of sorted blocks of at most BLOCK_KEYS keys, so an insert anywhere moves at
 * most a block (one sorted array of a million keys moved megabytes per random insert), and a
 * snapshot can hold the whole order at once: `freeze()` hands out the current blocks and marks
 * them shared; a later change to a shared block copies it first (copy-on-write, one block).
 */

const BLOCK_KEYS = 1024;

interface Block {
  keys: string[];
  /** The freeze that shares this block (0: none); a change to a shared block copies it. */
  shared: number;
}

export class KeyIndex {
  #blocks: Block[] = [];
  #size = 0;
  /** Id of the last freeze; blocks with `shared === #frozen` are held by it. */
  #frozen = 0;

  get size(): number {
    return this.#size;
  }

  add(key: string): void {
    if (this.#blocks.length === 0) {
      this.#blocks.push({ keys: [key], shared: 0 });
      this.#size = 1;
      return;
    }
    const b = this.#blockFor(key);
    let block = this.#blocks[b];
    const at = lowerBound(block.keys, key);
    if (block.keys[at] === key) return;
    block = this.#own(b);
    block.keys.splice(at, 0, key);
    this.#size++;
    if (block.keys.length > BLOCK_KEYS) {
      // Split in two halves; appending in order (the common case) leaves full blocks behind.
      const appending = b === this.#blocks.length - 1 && at === block.keys.length - 1;
      const cut = appending ? BLOCK_KEYS : block.keys.length >>> 1;
      this.#blocks.splice(b + 1, 0, { keys: block.keys.splice(cut), shared: 0 });
    }
  }

  remove(key: string): void {
    if (this.#blocks.length === 0) return;
    const b = this.#blockFor(key);
    const at = lowerBound(this.#blocks[b].keys, key);
    if (this.#blocks[b].keys[at] !== key) return;
    const block = this.#own(b);
    block.keys.splice(at, 1);
    this.#size--;
    if (block.keys.length === 0) this.#blocks.splice(b, 1);
  }

  /** Keys starting with `prefix`, in order. */
  range(prefix: string): string[] {
    const out: string[] = [];
    if (this.#blocks.length === 0) return out;
    let b = prefix === '' ? 0 : this.#blockFor(prefix);
    let at = prefix === '' ? 0 : lowerBound(this.#blocks[b].keys, prefix);
    for (; b < this.#blocks.length; b++, at = 0) {
      const keys = this.#blocks[b].keys;
      for (; at < keys.length; at++) {
        if (!keys[at].startsWith(prefix)) return out;
        out.push(keys[at]);
      }
    }
    return out;
  }

  /** Every key, in order (a copy). */
  all(): string[] {
    return this.range('');
  }

  /**
   * The current order as blocks to read later: until they are read, changes here copy the
   * block they touch instead of changing it. O(number of blocks). A new freeze ends the
   * previous one's protection.
   */
  freeze(): readonly (readonly string[])[] {
    const id = ++this.#frozen;
    for (const block of this.#blocks) block.shared = id;
    return this.#blocks.map((block) => block.keys);
  }

  /** Ends the protection of the last freeze (its blocks were read). */
  thaw(): void {
    this.#frozen++;
  }

  /** Replaces the content with keys already sorted and distinct. */
  reset(sortedKeys: string[]): void {
    this.#blocks = [];
    for (let i = 0; i < sortedKeys.length; i += BLOCK_KEYS) {
      this.#blocks.push({ keys: sortedKeys.slice(i, i + BLOCK_KEYS), shared: 0 });
    }
    this.#size = sortedKeys.length;
  }

  /** Appends a key greater than every key held (restoring a sorted image block by block). */
  appendSorted(key: string): void {
    const last = this.#blocks.at(-1);
    if (!last || last.keys.length >= BLOCK_KEYS || this.#isShared(last)) {
      this.#blocks.push({ keys: [key], shared: 0 });
    } else {
      last.keys.push(key);
    }
    this.#size++;
  }

  /** The block a key belongs in: the last whose first key is at or below it. */
  #blockFor(key: string): number {
    const blocks = this.#blocks;
    const last = blocks.length - 1;
    // Appending in order is the common case (sequential keys): check the end first.
    if (blocks[last].keys[0] <= key) return last;
    let lo = 0;
    let hi = last;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (blocks[mid].keys[0] <= key) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #isShared(block: Block): boolean {
    return this.#frozen !== 0 && block.shared === this.#frozen;
  }

  /** The block at `b`, copied first if a freeze still holds it. */
  #own(b: number): Block {
    const block = this.#blocks[b];
    if (!this.#isShared(block)) return block;
    const copy = { keys: block.keys.slice(), shared: 0 };
    this.#blocks[b] = copy;
    return copy;
  }
}

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  if (hi > 0 && keys[hi - 1] < key) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
