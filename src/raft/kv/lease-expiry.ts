import type { Replica } from '../replica.js';
import { encodeRequest } from './commands.js';
import { LeaderLeaseClock } from './leader-lease-clock.js';
import type { KvStateMachine } from './state-machine.js';

const CHECK_EVERY_MS = 25;
/**
 * How often the leader proposes its wall clock (a `clock` command), by which client sessions
 * idle too long expire at one log index everywhere (Raft thesis §6.3). Small against the
 * session idle time (10 minutes by default), one tiny entry per interval.
 */
export const CLOCK_EVERY_MS = 30_000;
/** A revoke that did not take effect (lost leadership, timed out) is proposed again after this. */
const RETRY_REVOKE_MS = 1000;

/**
 * Runs the leader's lease clock on the wall clock of a node, checking while it leads, and
 * proposes the leader's wall clock now and then for session expiry.
 */
export class LeaseExpiryClock {
  readonly #replica: Replica;
  readonly #clock: LeaderLeaseClock;
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** When this leader last proposed its clock (performance.now(); -Infinity: not yet). */
  #clockProposedAt = Number.NEGATIVE_INFINITY;

  constructor(replica: Replica, sm: KvStateMachine) {
    this.#replica = replica;
    this.#clock = new LeaderLeaseClock(sm, {
      now: () => performance.now(),
      retryMs: RETRY_REVOKE_MS,
      proposeRevoke: (lease) => {
        // Lost leadership or timed out: the next leader (or the retry) decides again.
        replica
          .propose(encodeRequest({ cmd: { op: 'leaseRevoke', lease } }), { timeoutMs: 5000 })
          .catch(() => {});
        return true;
      },
    });
    this.#unsubscribe = replica.onRoleChange(() => this.#onRoleChange());
    this.#onRoleChange();
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#stopTimer();
    this.#clock.close();
  }

  #onRoleChange(): void {
    if (this.#closed) return;
    const leading = this.#replica.isLeader();
    this.#check(leading);
    if (!leading) {
      this.#stopTimer();
      this.#clockProposedAt = Number.NEGATIVE_INFINITY;
    } else if (!this.#timer) {
      this.#timer = setInterval(() => this.#check(this.#replica.isLeader()), CHECK_EVERY_MS);
      this.#timer.unref();
    }
  }

  #check(leading: boolean): void {
    this.#clock.tick(leading);
    if (!leading) return;
    const now = performance.now();
    if (now - this.#clockProposedAt < CLOCK_EVERY_MS) return;
    this.#clockProposedAt = now;
    // The wall clock (not a monotonic one): a later leader's clock must be comparable. The
    // state machine never moves its clock back, so a leader whose clock is behind only waits.
    this.#replica
      .propose(encodeRequest({ cmd: { op: 'clock', nowMs: Date.now() } }), { timeoutMs: 5000 })
      .catch(() => {
        this.#clockProposedAt = Number.NEGATIVE_INFINITY;
      });
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
