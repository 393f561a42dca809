/**
 * One caller waiting for something, with a deadline and an optional AbortSignal. Settles
 * once; `cancel` removes the timer and the abort listener.
 */
export class Deadline<T> {
  settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort: () => void;

  constructor(
    private readonly resolveFn: (value: T) => void,
    private readonly rejectFn: (err: unknown) => void,
    opts: { timeoutMs: number; signal?: AbortSignal; onTimeout: () => unknown },
  ) {
    this.signal = opts.signal;
    this.onAbort = () => this.reject(opts.signal?.reason);
    this.timer = setTimeout(() => this.reject(opts.onTimeout()), opts.timeoutMs);
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

  private finish(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
