/**
 * One caller waiting for something, with a deadline (on the driver's clock) and an optional
 * AbortSignal; a waiter class extends it with what it carries and how it answers. Settles
 * once; settling removes the abort listener.
 *
 * A deadline owns no timer and no closures: its owner calls `expire(now)` from the driver's
 * tick, so a timeout is noticed at most one tick late, never early. A timer and a few
 * closures per proposal were a large share of what a 1 M-key load left for the major
 * garbage collector (heap sampling: 789 MB freed there per 400,000 puts with them, 459 MB
 * without), besides a timer-list insert and removal on the hot path.
 */
export abstract class Deadline<T> {
  settled = false;
  private readonly expiresAt: number;
  private signal: AbortSignal | undefined;
  private onAbort: (() => void) | undefined;

  constructor(now: number, timeoutMs: number) {
    this.expiresAt = now + timeoutMs;
  }

  /** The error a timeout rejects with. */
  protected abstract timeoutError(): unknown;

  /** Answers the caller: `err` null with `value`, or the error. Called once. */
  protected abstract answer(err: unknown, value?: T): void;

  /** Rejects with `signal`'s reason when it aborts (at once if it has). Call once constructed. */
  watch(signal: AbortSignal | undefined): void {
    if (!signal || this.settled) return;
    if (signal.aborted) {
      this.reject(signal.reason);
      return;
    }
    this.signal = signal;
    this.onAbort = () => this.reject(signal.reason);
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Rejects with the timeout error once `now` reached the deadline; true if it did. */
  expire(now: number): boolean {
    if (this.settled || now < this.expiresAt) return false;
    this.reject(this.timeoutError());
    return true;
  }

  resolve(value: T): void {
    if (this.settled) return;
    this.finish();
    this.answer(null, value);
  }

  reject(err: unknown): void {
    if (this.settled) return;
    this.finish();
    this.answer(err);
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
