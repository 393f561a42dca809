/** An ordered set of keys with prefix ranges, for list/watchTree over a sorted key space. */
export class KeyIndex {
  #keys: string[] = [];

  get size(): number {
    return this.#keys.length;
  }

  add(key: string): void {
    const at = this.#lowerBound(key);
    if (this.#keys[at] !== key) this.#keys.splice(at, 0, key);
  }

  remove(key: string): void {
    const at = this.#lowerBound(key);
    if (this.#keys[at] === key) this.#keys.splice(at, 1);
  }

  /** Keys starting with `prefix`, in order. */
  range(prefix: string): string[] {
    if (prefix === '') return [...this.#keys];
    const out: string[] = [];
    for (let i = this.#lowerBound(prefix); i < this.#keys.length && this.#keys[i].startsWith(prefix); i++) {
      out.push(this.#keys[i]);
    }
    return out;
  }

  all(): readonly string[] {
    return this.#keys;
  }

  reset(sortedKeys: string[]): void {
    this.#keys = sortedKeys;
  }

  #lowerBound(key: string): number {
    let lo = 0;
    let hi = this.#keys.length;
    // Appending in order is the common case (sequential keys): check the end first.
    if (hi > 0 && this.#keys[hi - 1] < key) return hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#keys[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
