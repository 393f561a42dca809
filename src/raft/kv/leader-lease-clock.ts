import type { KvStateMachine, LeaseEvent } from './state-machine.js';

/**
 * The leader's clock for leases, with time passed in: only the leader decides that a lease
 * expired, and says so by proposing `leaseRevoke`, so every replica deletes the same keys at
 * the same log index. A node that becomes leader restarts every lease's clock (a lease may
 * outlive its TTL by up to one TTL across a failover, never expire early), as etcd does.
 * The node runs it on the wall clock (LeaseExpiryClock); the simulator on virtual time.
 */
export class LeaderLeaseClock {
  readonly #sm: KvStateMachine;
  readonly #now: () => number;
  readonly #retryMs: number;
  readonly #proposeRevoke: (lease: number) => boolean;
  readonly #deadlines = new Map<number, number>();
  /** Leases whose revoke is in flight, with the time to propose it again. */
  readonly #revoking = new Map<number, number>();
  readonly #unsubscribe: () => void;
  #leading = false;

  /**
   * @param now the clock (ms); @param retryMs how long before a revoke that did not take
   * effect is proposed again; @param proposeRevoke proposes `leaseRevoke`, false when it could not.
   */
  constructor(
    sm: KvStateMachine,
    opts: { now: () => number; retryMs: number; proposeRevoke: (lease: number) => boolean },
  ) {
    this.#sm = sm;
    this.#now = opts.now;
    this.#retryMs = opts.retryMs;
    this.#proposeRevoke = opts.proposeRevoke;
    this.#unsubscribe = sm.onLease((events) => this.#onLeases(events));
  }

  /** Looks for expired leases (only while leader); call it periodically and on role changes. */
  tick(isLeader: boolean): void {
    if (!isLeader) {
      if (this.#leading) this.#stop();
      return;
    }
    const now = this.#now();
    if (!this.#leading) {
      this.#leading = true;
      for (const { lease, ttlMs } of this.#sm.leases())
        if (ttlMs !== null) this.#deadlines.set(lease, now + ttlMs);
    }
    for (const [lease, deadline] of this.#deadlines) {
      if (deadline > now || (this.#revoking.get(lease) ?? 0) > now) continue;
      if (this.#proposeRevoke(lease)) this.#revoking.set(lease, now + this.#retryMs);
    }
  }

  close(): void {
    this.#unsubscribe();
    this.#stop();
  }

  #onLeases(events: LeaseEvent[]): void {
    if (!this.#leading) return;
    const now = this.#now();
    for (const { lease, ttlMs } of events) {
      if (ttlMs === null) {
        this.#deadlines.delete(lease);
        this.#revoking.delete(lease);
      } else {
        this.#deadlines.set(lease, now + ttlMs);
      }
    }
  }

  #stop(): void {
    this.#leading = false;
    this.#deadlines.clear();
    this.#revoking.clear();
  }
}
