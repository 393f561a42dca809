import { ClosedError } from './errors.js';

/**
 * A push-to-pull queue behind every watch: producers `push`, the consumer iterates. It ends
 * (done) when the signal aborts or `end()` is called, and fails the consumer on `fail(err)`.
 * With `latestOnly`, unread values are replaced by the newest (for coalescing backends).
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  readonly #buffer: T[] = [];
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  #ended = false;
  #error: unknown = null;
  readonly #onAbort = () => this.end();
  readonly #signal: AbortSignal | undefined;
  readonly #latestOnly: boolean;
  readonly #onEnd: (() => void) | undefined;

  constructor(opts: { signal?: AbortSignal; latestOnly?: boolean; onEnd?: () => void } = {}) {
    this.#signal = opts.signal;
    this.#latestOnly = opts.latestOnly ?? false;
    this.#onEnd = opts.onEnd;
    if (this.#signal?.aborted) this.#ended = true;
    else this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get ended(): boolean {
    return this.#ended;
  }

  push(value: T): void {
    if (this.#ended) return;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter.resolve({ value, done: false });
      return;
    }
    if (this.#latestOnly) this.#buffer.length = 0;
    this.#buffer.push(value);
  }

  /** Ends the stream after the values already pushed. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onEnd?.();
    if (this.#waiter && this.#buffer.length === 0) {
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  /** Ends the stream with an error the consumer sees after the values already pushed. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#error = error ?? new ClosedError('watch failed');
    const waiter = this.#waiter;
    this.#waiter = null;
    this.end();
    if (waiter) waiter.reject(this.#error);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) return Promise.resolve({ value: this.#buffer.shift() as T, done: false });
    if (this.#error !== null) {
      const error = this.#error;
      this.#error = null;
      return Promise.reject(error);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.#buffer.length = 0;
    this.#error = null;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
