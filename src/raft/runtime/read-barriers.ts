import { Deadline } from './deadline.js';
import type { DriverClock } from './driver-io.js';

/** One caller of a read barrier. */
class Waiter extends Deadline<void> {
  /** Whether a request for this waiter reached the core (for the error on timeout). */
  sent = false;

  constructor(
    now: number,
    timeoutMs: number,
    private readonly errorOnTimeout: (sent: boolean) => unknown,
    private readonly done: (err: unknown) => void,
  ) {
    super(now, timeoutMs);
  }

  protected timeoutError(): unknown {
    return this.errorOnTimeout(this.sent);
  }

  protected answer(err: unknown): void {
    this.done(err);
  }
}

interface Outstanding {
  waiters: Waiter[];
  issuedAt: number;
  sent: boolean;
}

/**
 * Linearizable read barriers over the core's ReadIndex. Calls made in one turn of the
 * event loop share one ReadIndex request (issued after all of them started, so it is valid
 * for each); a waiter resolves once the node has applied the index the leader confirmed.
 * Requests lost to a leader change are issued again: a later ReadIndex is still correct
 * for a read that began earlier.
 */
export class ReadBarriers {
  private batch: Waiter[] = [];
  private flushScheduled = false;
  private readonly outstanding = new Map<string, Outstanding>();
  private awaitingApply: { index: number; waiters: Waiter[] }[] = [];
  private seq = 0;
  private applied = 0;

  /**
   * @param issue starts a ReadIndex request; returns false when no leader is known
   * @param idPrefix makes request ids unique to this node and process
   */
  constructor(
    private readonly issue: (requestId: string) => boolean,
    private readonly idPrefix: string,
    private readonly clock: DriverClock,
  ) {}

  /** Calls `done(null)` once a barrier begun now is confirmed and applied, or `done(err)`. */
  wait(
    opts: { timeoutMs: number; signal?: AbortSignal; timeoutError: (sent: boolean) => unknown },
    done: (err: unknown) => void,
  ): void {
    const waiter = new Waiter(this.clock.now(), opts.timeoutMs, opts.timeoutError, done);
    waiter.watch(opts.signal);
    if (waiter.settled) return;
    this.batch.push(waiter);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.clock.soon(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** The core released ReadIndex `requestId` at `index`. */
  onReadState(requestId: string, index: number): void {
    const request = this.outstanding.get(requestId);
    if (!request) return;
    this.outstanding.delete(requestId);
    if (index <= this.applied) {
      for (const w of request.waiters) w.resolve();
    } else {
      this.awaitingApply.push({ index, waiters: request.waiters });
    }
  }

  /** The node applied everything up to `index`. */
  onApplied(index: number): void {
    this.applied = index;
    if (this.awaitingApply.length === 0) return;
    const still: { index: number; waiters: Waiter[] }[] = [];
    for (const item of this.awaitingApply) {
      if (item.index <= index) for (const w of item.waiters) w.resolve();
      else still.push(item);
    }
    this.awaitingApply = still;
  }

  /** Issues again every request not answered yet (after a leader change). */
  reissueAll(): void {
    this.reissue(() => true);
  }

  /** Issues again requests never sent (no leader then) or unanswered for `staleMs`. */
  retry(staleMs: number): void {
    const now = this.clock.now();
    this.reissue((r) => !r.sent || now - r.issuedAt >= staleMs);
  }

  /**
   * Times out the waiters whose deadline `now` reached (the driver calls it every tick), and
   * lets go of settled ones.
   */
  expire(now: number): void {
    const live = (waiters: Waiter[]): Waiter[] =>
      waiters.filter((w) => {
        w.expire(now);
        return !w.settled;
      });
    this.batch = live(this.batch);
    for (const [id, request] of this.outstanding) {
      request.waiters = live(request.waiters);
      if (request.waiters.length === 0) this.outstanding.delete(id);
    }
    const still: { index: number; waiters: Waiter[] }[] = [];
    for (const item of this.awaitingApply) {
      item.waiters = live(item.waiters);
      if (item.waiters.length > 0) still.push(item);
    }
    this.awaitingApply = still;
  }

  /** Rejects every waiter with `err`, or (null) forgets them unanswered (a simulated crash). */
  rejectAll(err: unknown): void {
    const all = [...this.batch, ...[...this.outstanding.values()].flatMap((r) => r.waiters)];
    for (const item of this.awaitingApply) all.push(...item.waiters);
    this.batch = [];
    this.outstanding.clear();
    this.awaitingApply = [];
    for (const w of all) {
      if (err === null) w.cancel();
      else w.reject(err);
    }
  }

  private reissue(which: (r: Outstanding) => boolean): void {
    for (const [id, request] of [...this.outstanding]) {
      if (!which(request)) continue;
      this.outstanding.delete(id);
      this.batch.push(...request.waiters);
    }
    this.flush();
  }

  private flush(): void {
    const waiters = this.batch.filter((w) => !w.settled);
    this.batch = [];
    if (waiters.length === 0) return;
    const requestId = `${this.idPrefix}:${++this.seq}`;
    const sent = this.issue(requestId);
    if (sent) for (const w of waiters) w.sent = true;
    this.outstanding.set(requestId, { waiters, issuedAt: this.clock.now(), sent });
  }
}
