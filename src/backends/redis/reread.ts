import { type LongTimeout, setLongTimeout } from '../../time/long-timeout.js';

/**
 * Re-reads a watched state whenever something says it may have changed (a keyspace event, a
 * reconnection, a TTL running out), at most one read at a time: requests that arrive during a
 * read cause one more read after it, so a burst of events costs two reads, and the last read
 * always starts after the last request (no change is left unread).
 */
export class Reread {
  readonly #read: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  #running = false;
  #again = false;
  #stopped = false;
  #timer: LongTimeout | null = null;

  constructor(read: () => Promise<void>, onError: (err: unknown) => void) {
    this.#read = read;
    this.#onError = onError;
  }

  /** Asks for a read (now, or right after the one in progress). */
  request(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.#run();
  }

  /** Asks for a read once `delayMs` have passed (a TTL running out); replaces an earlier one. */
  requestAfter(delayMs: number): void {
    this.#timer?.cancel();
    if (this.#stopped) return;
    this.#timer = setLongTimeout(() => this.request(), delayMs, { unref: true });
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      do {
        this.#again = false;
        try {
          await this.#read();
        } catch (err) {
          if (!this.#stopped) this.#onError(err);
        }
      } while (this.#again && !this.#stopped);
    } finally {
      this.#running = false;
    }
  }
}
