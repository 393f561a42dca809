import type { DriverClock } from './driver-io.js';

/**
 * One caller waiting for something, with a deadline (on the driver's clock) and an optional
 * AbortSignal. Settles once; settling removes the timer and the abort listener.
 */
export class Deadline<T> {
  settled = false;
  private readonly cancelTimer: () => void;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: () => void;

  constructor(
    private readonly resolveFn: (value: T) => void,
    private readonly rejectFn: (err: unknown) => void,
    opts: { clock: DriverClock; timeoutMs: number; signal?: AbortSignal; onTimeout: () => unknown },
  ) {
    this.signal = opts.signal;
    this.onAbort = () => this.reject(opts.signal?.reason);
    this.cancelTimer = opts.clock.after(opts.timeoutMs, () => this.reject(opts.onTimeout()));
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
    if (this.signal?.aborted) this.reject(this.signal.reason);
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
    this.cancelTimer();
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
