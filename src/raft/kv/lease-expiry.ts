import type { Replica } from '../replica.js';
import { encodeRequest } from './commands.js';
import { LeaderLeaseClock } from './leader-lease-clock.js';
import type { KvStateMachine } from './state-machine.js';

const CHECK_EVERY_MS = 25;
/** A revoke that did not take effect (lost leadership, timed out) is proposed again after this. */
const RETRY_REVOKE_MS = 1000;

/** Runs the leader's lease clock on the wall clock of a node, checking while it leads. */
export class LeaseExpiryClock {
  readonly #replica: Replica;
  readonly #clock: LeaderLeaseClock;
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

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
    this.#clock.tick(leading);
    if (!leading) {
      this.#stopTimer();
    } else if (!this.#timer) {
      this.#timer = setInterval(() => this.#clock.tick(this.#replica.isLeader()), CHECK_EVERY_MS);
      this.#timer.unref();
    }
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
