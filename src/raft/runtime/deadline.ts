/**
 * One caller waiting for something, with a deadline (on the driver's clock) and an optional
 * AbortSignal. Settles once; settling removes the abort listener.
 *
 * A deadline owns no timer: its owner calls `expire(now)` from the driver's tick, so a
 * timeout is noticed at most one tick late, never early. A timer per proposal cost a
 * Timeout object and three closures per put (about 15 % of what a 1 M-key load left for
 * the major garbage collector, sampled) and a timer-list insert and removal on the hot path.
 */
export class Deadline<T> {
  settled = false;
  private readonly expiresAt: number;
  private readonly onTimeout: () => unknown;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: (() => void) | null = null;

  constructor(
    private readonly resolveFn: (value: T) => void,
    private readonly rejectFn: (err: unknown) => void,
    opts: { now: number; timeoutMs: number; signal?: AbortSignal; onTimeout: () => unknown },
  ) {
    this.expiresAt = opts.now + opts.timeoutMs;
    this.onTimeout = opts.onTimeout;
    this.signal = opts.signal;
    if (this.signal) {
      const signal = this.signal;
      this.onAbort = () => this.reject(signal.reason);
      signal.addEventListener('abort', this.onAbort, { once: true });
      if (signal.aborted) this.reject(signal.reason);
    }
  }

  /** Rejects with the timeout error once `now` reached the deadline; true if it did. */
  expire(now: number): boolean {
    if (this.settled || now < this.expiresAt) return false;
    this.reject(this.onTimeout());
    return true;
  }

  resolve(value: T): void {
    if (this.settled) return;
    this.finish();
    this.resolveFn(value);
  }

  reject(err: unknown): void {
    if (this.settled) return;
    this.finish();
    this.rejectFn(err);
  }

  /** Settles without telling the caller (the node crashed: nothing answers). */
  cancel(): void {
    if (!this.settled) this.finish();
  }

  private finish(): void {
    this.settled = true;
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
  }
}
