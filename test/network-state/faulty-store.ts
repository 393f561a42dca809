import type { Store } from '../../src/index.js';

const WRITES = new Set(['put', 'atomicPut', 'atomicDelete', 'delete', 'deleteTree']);

/**
 * A store whose writes can be made to fail: `crashAfter(n)` lets n more writes through and then
 * fails every call (a process that died mid-operation); `failOnce(pred)` fails the next write
 * whose key matches (one step of a release going wrong).
 */
export class FaultyStore {
  readonly store: Store;
  #budget = Number.POSITIVE_INFINITY;
  #crashed = false;
  #failures: ((key: string, op: string) => boolean)[] = [];
  writes = 0;

  constructor(inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || prop === 'capabilities') return value;
        return (...args: unknown[]) => {
          const op = String(prop);
          if (this.#crashed && op !== 'close')
            return Promise.reject(new Error('injected crash: process is gone'));
          if (WRITES.has(op)) {
            const key = String(args[0]);
            const failure = this.#failures.findIndex((f) => f(key, op));
            if (failure >= 0) {
              this.#failures.splice(failure, 1);
              return Promise.reject(new Error(`injected failure writing ${key}`));
            }
            if (this.writes >= this.#budget) {
              this.#crashed = true;
              return Promise.reject(new Error('injected crash: process is gone'));
            }
            this.writes++;
          }
          return value.apply(target, args);
        };
      },
    });
  }

  crashAfter(writes: number): void {
    this.#budget = this.writes + writes;
  }

  failOnce(match: (key: string, op: string) => boolean): void {
    this.#failures.push(match);
  }

  /** Fails every write whose key matches until the returned function is called. */
  failWhile(match: (key: string, op: string) => boolean): () => void {
    let on = true;
    const rule = (key: string, op: string) => {
      if (on && match(key, op)) {
        this.#failures.push(rule);
        return true;
      }
      return false;
    };
    this.#failures.push(rule);
    return () => {
      on = false;
    };
  }

  get crashed(): boolean {
    return this.#crashed;
  }
}
