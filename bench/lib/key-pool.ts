/**
 * A pool of keys with per-key state (e.g. the pair last written, for compare-and-swap): each
 * use takes a free key, so no two concurrent callers share one and no CAS fails by contention.
 */
export class KeyPool<K, S> {
  readonly #free: K[];
  readonly #state = new Map<K, S>();
  readonly #init: (key: K) => Promise<S>;

  constructor(keys: K[], init: (key: K) => Promise<S>) {
    this.#free = [...keys];
    this.#init = init;
  }

  async use(step: (key: K, state: S) => Promise<S>): Promise<void> {
    const key = this.#free.pop();
    if (key === undefined) throw new Error('more callers than keys');
    try {
      const state = this.#state.has(key) ? (this.#state.get(key) as S) : await this.#init(key);
      this.#state.set(key, await step(key, state));
    } finally {
      this.#free.push(key);
    }
  }
}
