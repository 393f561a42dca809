import type { Replica, ReplicaMember, ReplicaStatus } from '../raft/replica.js';

/** What the node's metrics learn from the calls its Stores and client port make. */
export interface ReplicaCounts {
  /** Proposals of this node waiting for their answer. */
  pending: number;
  /** Proposals that failed (timed out, no leader, refused). */
  failed: number;
  /** Read barriers that failed (not counting those their caller gave up on). */
  barriersFailed: number;
  /** The last read barrier's outcome (undefined: none yet) and when it ended (performance.now()). */
  lastBarrier: { ok: boolean; atMs: number } | undefined;
}

/**
 * The node's replica as its embedded Stores and client port see it, counting proposals in
 * flight and failed, and noting each read barrier's outcome (what /health reports). Everything
 * else goes straight through.
 */
export class CountedReplica implements Replica {
  readonly counts: ReplicaCounts = { pending: 0, failed: 0, barriersFailed: 0, lastBarrier: undefined };
  readonly #inner: Replica;

  constructor(inner: Replica) {
    this.#inner = inner;
  }

  get id(): string {
    return this.#inner.id;
  }

  async propose(command: Uint8Array, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<unknown> {
    this.counts.pending++;
    try {
      return await this.#inner.propose(command, opts);
    } catch (err) {
      this.counts.failed++;
      throw err;
    } finally {
      this.counts.pending--;
    }
  }

  async readBarrier(opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<void> {
    try {
      await this.#inner.readBarrier(opts);
      this.counts.lastBarrier = { ok: true, atMs: performance.now() };
    } catch (err) {
      // A caller giving up is no verdict on the cluster.
      if (!opts?.signal?.aborted) {
        this.counts.barriersFailed++;
        this.counts.lastBarrier = { ok: false, atMs: performance.now() };
      }
      throw err;
    }
  }

  isLeader(): boolean {
    return this.#inner.isLeader();
  }

  status(): ReplicaStatus {
    return this.#inner.status();
  }

  members(): ReplicaMember[] {
    return this.#inner.members();
  }

  onRoleChange(listener: (status: ReplicaStatus) => void): () => void {
    return this.#inner.onRoleChange(listener);
  }
}
