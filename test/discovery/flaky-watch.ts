import { NotReachableError, type Store } from '../../src/index.js';

/**
 * A store whose watches can be made to fail: `breakWatches()` makes every open watch and
 * watchTree throw NOT_REACHABLE, and the next `failOpens` openings throw at once (a store that
 * is down for a moment). Everything else passes through.
 */
export class FlakyWatchStore {
  readonly store: Store;
  failOpens = 0;
  readonly #open = new Set<AbortController>();

  constructor(inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== 'watch' && prop !== 'watchTree')
          return typeof value === 'function' ? value.bind(target) : value;
        return (key: string, opts?: { signal?: AbortSignal }) => this.#wrap(target, prop, key, opts?.signal);
      },
    });
  }

  breakWatches(): void {
    for (const broken of this.#open) broken.abort();
  }

  async *#wrap(
    target: Store,
    method: 'watch' | 'watchTree',
    key: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<unknown> {
    if (this.failOpens > 0) {
      this.failOpens--;
      throw new NotReachableError('injected: store unreachable');
    }
    const broken = new AbortController();
    this.#open.add(broken);
    try {
      const inner = target[method](key, {
        signal: signal ? AbortSignal.any([signal, broken.signal]) : broken.signal,
      }) as AsyncIterable<unknown>;
      for await (const value of inner) yield value;
      if (broken.signal.aborted && !signal?.aborted) throw new NotReachableError('injected: watch broke');
    } finally {
      this.#open.delete(broken);
    }
  }
}
