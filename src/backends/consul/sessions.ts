import { CannotLockError } from '../../store/errors.js';
import type { ConsulConnection } from './connection.js';

/** Consul refuses session TTLs outside [10 s, 24 h]. */
const SESSION_TTL_MIN_MS = 10_000;
const SESSION_TTL_MAX_MS = 86_400_000;
/**
 * A Consul server invalidates a session only once twice its TTL has passed without renewal
 * (SessionTTLMultiplier, 2 in every release so far). kvkit asks for half the key's TTL so the
 * key goes when its TTL passes, not twice as late.
 */
export const SESSION_TTL_MULTIPLIER = 2;
/** Added to every session TTL, so a key never goes before its TTL, counted from the write (ms). */
const SESSION_TTL_MARGIN_MS = 500;

/** The shortest key or lock TTL on Consul: the 10 s session floor, doubled by the server. */
export const MIN_KEY_TTL_MS = SESSION_TTL_MIN_MS * SESSION_TTL_MULTIPLIER;
/** Expiry comes this long after the TTL at most: the margin, doubled, plus the delete's commit. */
export const KEY_TTL_GRANULARITY_MS = 2000;
/**
 * The longest TTL one session carries on its own: the 24 h session ceiling, doubled. A longer
 * key TTL is carried as a deadline in the entry's Flags (long-ttl.ts); a longer lock TTL rides
 * on a session of that ceiling, renewed while the lock is held.
 */
export const MAX_KEY_TTL_MS = (SESSION_TTL_MAX_MS - SESSION_TTL_MARGIN_MS) * SESSION_TTL_MULTIPLIER;

/** The session TTL that makes a key live `keyTtlMs` (already at least MIN_KEY_TTL_MS). */
export function sessionTtlFor(keyTtlMs: number): number {
  if (keyTtlMs > MAX_KEY_TTL_MS) return SESSION_TTL_MAX_MS;
  const wanted = Math.ceil(keyTtlMs / SESSION_TTL_MULTIPLIER) + SESSION_TTL_MARGIN_MS;
  return Math.max(SESSION_TTL_MIN_MS, wanted);
}

/**
 * Keeps one session alive by renewing it at a third of its TTL. Calls `onLost` once when the
 * server no longer knows the session, or when no renewal succeeded for a whole session TTL (from
 * then on the server may have let it go). `stop()` clears the timer; nothing is left running.
 */
export class SessionKeeper {
  readonly id: string;
  readonly #conn: ConsulConnection;
  readonly #sessionTtlMs: number;
  readonly #onLost: (reason: Error) => void;
  #timer: NodeJS.Timeout | null = null;
  #renewedAt = Date.now();
  #active = true;

  constructor(conn: ConsulConnection, id: string, sessionTtlMs: number, onLost: (reason: Error) => void) {
    this.#conn = conn;
    this.id = id;
    this.#sessionTtlMs = sessionTtlMs;
    this.#onLost = onLost;
    this.#schedule(sessionTtlMs / 3);
  }

  /** False once stopped or lost. */
  get active(): boolean {
    return this.#active;
  }

  stop(): void {
    this.#active = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(delayMs: number): void {
    if (!this.#active) return;
    this.#timer = setTimeout(() => void this.#renew(), Math.max(1, Math.floor(delayMs)));
    // A held lock alone does not keep the process alive (as with every kvkit lock).
    this.#timer.unref();
  }

  async #renew(): Promise<void> {
    this.#timer = null;
    const attemptAt = Date.now();
    let known: boolean;
    try {
      known = await this.#conn.renewSession(this.id);
    } catch (err) {
      if (!this.#active) return;
      if (Date.now() - this.#renewedAt >= this.#sessionTtlMs) {
        this.#lose(new CannotLockError(`session ${this.id} could not be renewed in time`, { cause: err }));
      } else {
        this.#schedule(Math.min(1000, this.#sessionTtlMs / 6));
      }
      return;
    }
    if (!this.#active) return;
    if (!known) {
      this.#lose(new CannotLockError(`session ${this.id} was invalidated by the server`));
      return;
    }
    this.#renewedAt = attemptAt;
    this.#schedule(this.#sessionTtlMs / 3);
  }

  #lose(reason: Error): void {
    this.stop();
    this.#onLost(reason);
  }
}
