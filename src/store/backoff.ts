import { sleep } from './signals.js';

export interface BackoffOptions {
  /** First delay (ms). Default 50. */
  initialMs?: number;
  /** Largest delay (ms). Default 2000. */
  maxMs?: number;
  /** Multiplier per attempt. Default 2. */
  factor?: number;
}

/**
 * Exponential backoff with full jitter: `await backoff.wait(signal)` between attempts,
 * `backoff.reset()` after a success. Jitter spreads reconnecting clients apart.
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #factor: number;
  #attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.#initialMs = opts.initialMs ?? 50;
    this.#maxMs = opts.maxMs ?? 2000;
    this.#factor = opts.factor ?? 2;
  }

  /** The next delay, without waiting. */
  nextDelayMs(): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * this.#factor ** this.#attempt++);
    return Math.max(1, Math.round(ceiling * (0.5 + Math.random() / 2)));
  }

  wait(signal?: AbortSignal): Promise<void> {
    return sleep(this.nextDelayMs(), signal);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
