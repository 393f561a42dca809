import type { Replica } from '../replica.js';
import { encodeRequest } from './commands.js';
import type { KvStateMachine, LeaseEvent } from './state-machine.js';

const CHECK_EVERY_MS = 25;

/**
 * The leader's clock for leases: only the leader decides that a lease expired, and it says so
 * by proposing `leaseRevoke`, so every replica deletes the same keys at the same log index.
 * A new leader restarts every lease's clock (a lease may live up to one TTL longer across a
 * failover, never shorter), as etcd does.
 */
export class LeaseExpiryClock {
  readonly #replica: Replica;
  readonly #sm: KvStateMachine;
  readonly #deadlines = new Map<number, number>();
  readonly #revoking = new Set<number>();
  readonly #unsubscribe: (() => void)[];
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(replica: Replica, sm: KvStateMachine) {
    this.#replica = replica;
    this.#sm = sm;
    this.#unsubscribe = [
      sm.onLease((events) => this.#onLeases(events)),
      replica.onRoleChange(() => this.#onRoleChange()),
    ];
    this.#onRoleChange();
  }

  close(): void {
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    this.#stop();
  }

  #onRoleChange(): void {
    if (this.#closed) return;
    if (!this.#replica.isLeader()) {
      this.#stop();
      return;
    }
    if (this.#timer) return;
    this.#deadlines.clear();
    const now = performance.now();
    for (const { lease, ttlMs } of this.#sm.leases())
      if (ttlMs !== null) this.#deadlines.set(lease, now + ttlMs);
    this.#timer = setInterval(() => this.#check(), CHECK_EVERY_MS);
    this.#timer.unref();
  }

  #onLeases(events: LeaseEvent[]): void {
    if (!this.#timer) return;
    const now = performance.now();
    for (const { lease, ttlMs } of events) {
      if (ttlMs === null) {
        this.#deadlines.delete(lease);
        this.#revoking.delete(lease);
      } else {
        this.#deadlines.set(lease, now + ttlMs);
      }
    }
  }

  #check(): void {
    const now = performance.now();
    for (const [lease, deadline] of this.#deadlines) {
      if (deadline > now || this.#revoking.has(lease)) continue;
      this.#revoking.add(lease);
      this.#replica.propose(encodeRequest({ cmd: { op: 'leaseRevoke', lease } }), { timeoutMs: 5000 }).then(
        () => this.#revoking.delete(lease),
        // Lost leadership or timed out: the next leader (or the next check) decides again.
        () => this.#revoking.delete(lease),
      );
    }
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#deadlines.clear();
    this.#revoking.clear();
  }
}
