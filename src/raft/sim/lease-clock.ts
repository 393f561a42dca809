import type { KvStateMachine, LeaseEvent } from '../kv/index.js';

/** Virtual milliseconds before a revoke that did not take effect is proposed again. */
const RETRY_REVOKE_MS = 200;

/**
 * The leader's lease clock of src/raft/kv/lease-expiry.ts, in virtual time: only the leader
 * decides that a lease expired, and says so by proposing `leaseRevoke`. A node that becomes
 * leader restarts every lease's clock (a lease may outlive its TTL across a failover, never
 * expire early). Driven by the node's ticks, never by a wall clock, so a run stays a function
 * of its seed.
 */
export class SimLeaseClock {
  readonly #deadlines = new Map<number, number>();
  /** Leases whose revoke is in flight, with the time to propose it again. */
  readonly #revoking = new Map<number, number>();
  #leading = false;

  constructor(
    private readonly sm: KvStateMachine,
    private readonly now: () => number,
    /** Proposes `leaseRevoke` for `lease`; false when this node cannot propose now. */
    private readonly proposeRevoke: (lease: number) => boolean,
  ) {
    sm.onLease((events) => this.onLeases(events));
  }

  /** Called on every tick of the node. */
  tick(isLeader: boolean): void {
    if (!isLeader) {
      if (this.#leading) this.stop();
      return;
    }
    const now = this.now();
    if (!this.#leading) {
      this.#leading = true;
      for (const { lease, ttlMs } of this.sm.leases())
        if (ttlMs !== null) this.#deadlines.set(lease, now + ttlMs);
    }
    for (const [lease, deadline] of this.#deadlines) {
      if (deadline > now || (this.#revoking.get(lease) ?? 0) > now) continue;
      if (this.proposeRevoke(lease)) this.#revoking.set(lease, now + RETRY_REVOKE_MS);
    }
  }

  private onLeases(events: LeaseEvent[]): void {
    if (!this.#leading) return;
    const now = this.now();
    for (const { lease, ttlMs } of events) {
      if (ttlMs === null) {
        this.#deadlines.delete(lease);
        this.#revoking.delete(lease);
      } else {
        this.#deadlines.set(lease, now + ttlMs);
      }
    }
  }

  private stop(): void {
    this.#leading = false;
    this.#deadlines.clear();
    this.#revoking.clear();
  }
}
