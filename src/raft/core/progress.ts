import { SnapshotSender } from './snapshot-transfer.js';
import type { ProgressState, ProgressStatus, SnapshotSource } from './types.js';

/**
 * The leader's view of one follower (etcd's Progress). Three states:
 * - probe: the leader does not know where the logs diverge; it sends one append at a time
 *   and waits for the answer (or the next heartbeat response) before sending another.
 * - replicate: the logs match up to `match`; the leader streams appends optimistically,
 *   at most `maxInflight` unacknowledged messages at once.
 * - snapshot: the follower needs entries the leader compacted; the leader sends snapshot
 *   chunks one at a time and no appends.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an append was sent and not yet answered. */
  probeSent = false;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** Last index of each append in flight, oldest first (replicate state). */
  private inflight: number[] = [];
  /** Snapshot state: the transfer in progress. */
  snapshotSender: SnapshotSender | null = null;

  constructor(
    next: number,
    public isLearner: boolean,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  get pendingSnapshot(): number {
    return this.snapshotSender?.index ?? 0;
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index.
    const floor = this.state === 'snapshot' ? this.pendingSnapshot : 0;
    this.resetState('probe');
    this.next = Math.max(this.match + 1, floor + 1);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: SnapshotSource): void {
    this.resetState('snapshot');
    this.snapshotSender = new SnapshotSender(snapshot);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflight = [];
    this.snapshotSender = null;
  }

  /** The follower acknowledged everything up to `index`. Returns whether `match` moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `hint` is the highest index that may
   * still match. Returns false when the rejection is stale (from an older append).
   */
  maybeDecreaseTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      // Everything up to match is known to match: a rejection at or below it is stale.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probe: only the answer to the one append we sent (at next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Records that an append ending at `lastIndex` (or an empty probe) was sent. */
  sentAppend(lastIndex: number, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflight.push(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Acknowledgement up to `index` frees every in-flight append ending at or before it. */
  freeInflightUpTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && this.inflight[n] <= index) n++;
    if (n > 0) this.inflight = this.inflight.slice(n);
  }

  /** A heartbeat response proves the follower is alive: let one more append through. */
  freeOneInflight(): void {
    if (this.inflight.length > 0) this.inflight = this.inflight.slice(1);
  }

  inflightFull(): boolean {
    return this.inflight.length >= this.maxInflight;
  }

  /** Whether the leader must hold back appends to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflightFull();
      case 'snapshot':
        return true;
    }
  }

  toStatus(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      inflight: this.inflight.length,
      isLearner: this.isLearner,
      pendingSnapshot: this.pendingSnapshot,
    };
  }
}
