import { isKVError } from '../../store/errors.js';
import { type LongTimeout, setLongTimeout } from '../../time/long-timeout.js';
import type { ConsulConnection, ConsulEntry } from './connection.js';
import { isReleased, kvOp } from './kv-ops.js';

/**
 * TTLs longer than one Consul session carries (MAX_KEY_TTL_MS, about 48 h): the key is written
 * without a session, its deadline (wall-clock ms) carried in the entry's Flags. Every kvkit
 * store enforces it: a read, list or watch treats an entry past its deadline as absent, and the
 * stores that have written or seen such a key delete it at its deadline (ExpirySweeper). So the
 * key lives its whole TTL whether or not its writer is still running; a session would delete it
 * within 48 h of the writer's last renewal. See docs/backends/consul.md, *TTLs*.
 *
 * Flags layout: DEADLINE_TAG + deadlineMs * STAMP_SPACE + stamp. The tag keeps it apart from
 * kvkit's plain write stamps (below 2^32) and from small flags other clients set; the stamp keeps
 * two writes in one millisecond distinct (see nextStamp). The sum stays below 2^53 (exact as a
 * JSON number in JS) for deadlines before the year 2500.
 */
const DEADLINE_TAG = 2 ** 52;
const STAMP_SPACE = 256;
/** The latest deadline the layout holds (ms since the epoch). */
const MAX_DEADLINE_MS = Math.floor((2 ** 53 - 1 - DEADLINE_TAG) / STAMP_SPACE) - 1;

/** How soon a sweep that could not reach Consul is tried again (ms). */
const SWEEP_RETRY_MS = 10_000;
/** How often the writer of a TTL key looks for it released (its session ended) before giving up. */
const RELEASE_CHECKS = 3;
/**
 * The most long-TTL keys one store keeps timers for. Past it, keys are still enforced on read
 * (and deleted by whichever store reads them after their deadline); the timers stay bounded.
 */
export const MAX_SWEPT_KEYS = 10_000;

/** The Flags of a write whose key expires at `deadlineMs`; `stamp` from nextStamp(). */
export function deadlineFlags(deadlineMs: number, stamp: number): number {
  const deadline = Math.min(Math.ceil(deadlineMs), MAX_DEADLINE_MS);
  return DEADLINE_TAG + deadline * STAMP_SPACE + (stamp % STAMP_SPACE);
}

/** The deadline an entry's Flags carry (ms since the epoch), or null for a key without one. */
export function deadlineOf(flags: number): number | null {
  if (!Number.isSafeInteger(flags) || flags < DEADLINE_TAG) return null;
  return Math.floor((flags - DEADLINE_TAG) / STAMP_SPACE);
}

/**
 * Deletes the entries kvkit sees as absent although Consul still holds them: long-TTL keys at
 * their deadline, and keys whose session ended and released them (kv-ops.ts, isReleased) as
 * soon as a store sees them, or when the store that wrote them looks after their TTL.
 * `[check-index, delete]` in one transaction, so a key rewritten since it was seen is left
 * alone, and several stores sweeping one key delete it once.
 * An unreachable server is tried again every SWEEP_RETRY_MS while the store is open.
 * The deadline is the writer's wall clock: kvkit's clients are assumed to agree on the time
 * within the TTL granularity (NTP), as the deadline is compared with each reader's clock.
 */
export class ExpirySweeper {
  readonly #conn: ConsulConnection;
  readonly #now: () => number;
  readonly #tracked = new Map<string, { index: number; timer: LongTimeout | null }>();
  #closed = false;

  constructor(conn: ConsulConnection, now: () => number = Date.now) {
    this.#conn = conn;
    this.#now = now;
  }

  /**
   * The entry as the contract sees it: null once past its deadline (its delete then starts at
   * once); an entry with a deadline to come is swept when it arrives.
   */
  live(entry: ConsulEntry): ConsulEntry | null {
    if (isReleased(entry)) {
      this.#track(entry.Key, entry.ModifyIndex, this.#now());
      return null;
    }
    const deadline = deadlineOf(entry.Flags);
    if (deadline === null) return entry;
    this.#track(entry.Key, entry.ModifyIndex, deadline);
    return deadline <= this.#now() ? null : entry;
  }

  /** True for a long-TTL entry past its deadline or a released one (the contract sees both as absent). */
  expired(entry: ConsulEntry): boolean {
    if (isReleased(entry)) return true;
    const deadline = deadlineOf(entry.Flags);
    return deadline !== null && deadline <= this.#now();
  }

  /** Only the entries not past their deadline. */
  liveAll(entries: ConsulEntry[]): ConsulEntry[] {
    return entries.filter((e) => this.live(e) !== null);
  }

  /**
   * This store wrote `key` held by a session that should end by `dueMs`: look then (and a few
   * times after, as a leader change restarts session timers) and sweep it once released, so a
   * TTL key does not stay in Consul after its TTL when no other store reads it.
   */
  sessionEnds(key: string, dueMs: number): void {
    if (this.#closed) return;
    this.cancel(key);
    if (this.#tracked.size >= MAX_SWEPT_KEYS) return;
    const slot: { index: number; timer: LongTimeout | null } = { index: -1, timer: null };
    this.#tracked.set(key, slot);
    let checks = 0;
    const look = async () => {
      slot.timer = null;
      let again: boolean;
      try {
        const read = await this.#conn.txn([kvOp.get(key)], { write: false });
        if (this.#tracked.get(key) !== slot) return;
        this.#tracked.delete(key);
        // Released: live() starts its sweep. Still held by a session: look again later.
        const entry = read.ok ? read.results[0] : null;
        again = entry !== null && this.live(entry) !== null && Boolean(entry.Session);
      } catch {
        if (this.#tracked.get(key) !== slot) return;
        again = true;
      }
      if (again && ++checks < RELEASE_CHECKS && !this.#tracked.has(key)) {
        this.#tracked.set(key, slot);
        slot.timer = setLongTimeout(() => void look(), SWEEP_RETRY_MS, { unref: true });
      } else if (this.#tracked.get(key) === slot) {
        this.#tracked.delete(key);
      }
    };
    slot.timer = setLongTimeout(() => void look(), Math.max(0, dueMs - this.#now()), { unref: true });
  }

  /** Forgets the key (this store rewrote or deleted it). */
  cancel(key: string): void {
    this.#tracked.get(key)?.timer?.cancel();
    this.#tracked.delete(key);
  }

  /** Forgets every key under `dir` ('' for all). */
  cancelUnder(dir: string): void {
    for (const key of [...this.#tracked.keys()]) if (key.startsWith(dir)) this.cancel(key);
  }

  close(): void {
    this.#closed = true;
    this.cancelUnder('');
  }

  #track(key: string, index: number, deadline: number): void {
    if (this.#closed || this.#tracked.get(key)?.index === index) return;
    this.cancel(key);
    if (this.#tracked.size >= MAX_SWEPT_KEYS) return;
    const slot: { index: number; timer: LongTimeout | null } = { index, timer: null };
    this.#tracked.set(key, slot);
    const arm = (delayMs: number) => {
      slot.timer = setLongTimeout(() => void sweep(), delayMs, { unref: true });
    };
    const sweep = async () => {
      slot.timer = null;
      try {
        await this.#conn.txn([kvOp.checkIndex(key, index), kvOp.delete(key)], { write: true });
      } catch (err) {
        // Unreachable: later. Anything else (e.g. no write permission): this store cannot sweep.
        if (this.#tracked.get(key) !== slot) return;
        if (isKVError(err, 'NOT_REACHABLE')) arm(SWEEP_RETRY_MS);
        else this.#tracked.delete(key);
        return;
      }
      // Deleted, or changed since (then it is not ours to delete): either way done.
      if (this.#tracked.get(key) === slot) this.#tracked.delete(key);
    };
    arm(deadline - this.#now());
  }
}
