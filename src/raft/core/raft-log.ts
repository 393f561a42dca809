import { limitSize } from './entry.js';
import { RaftError } from './errors.js';
import { invariant } from './invariant.js';
import type { Entry, RaftStorage, Snapshot, SnapshotSource } from './types.js';

/**
 * The log as the core sees it: what stable storage holds, overlaid by the "unstable" tail
 * (entries and possibly a snapshot not yet acknowledged as persisted). Entries at index >=
 * `unstableOffset` come from the unstable tail even when storage still holds older entries at
 * those indexes (they are about to be replaced). Part of the unstable tail may already be in
 * a Ready being written (`inProgress`): the runtime may write several Readys at once
 * (pipelining), so each unstable entry, the unstable snapshot and each committed entry is
 * handed out once (`acceptReady`), and becomes stable or applied when its Ready is advanced.
 */
export class RaftLog {
  /** Highest index known committed. Never decreases. */
  committed: number;
  /** Highest index handed to the application and acknowledged. */
  applied: number;
  private unstableSnapshot: Snapshot | null = null;
  private unstableEntries: Entry[] = [];
  private unstableOffset: number;
  /** First unstable index not yet handed out in a Ready (unstableOffset..lastIndex+1). */
  private inProgress: number;
  /** The unstable snapshot was handed out in a Ready. */
  private snapshotInProgress = false;
  /** Highest committed index handed out for applying (at least `applied`). */
  private applying: number;

  /**
   * @param committed the persisted commit index
   * @param applied what the state machine has applied (at least the snapshot's index)
   */
  constructor(
    private readonly storage: RaftStorage,
    committed: number,
    applied: number,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    this.inProgress = this.unstableOffset;
    this.committed = Math.max(committed, applied, storage.firstIndex() - 1);
    invariant(
      this.committed <= storage.lastIndex(),
      `commit ${this.committed} beyond last index ${storage.lastIndex()}`,
    );
    this.applied = applied;
    this.applying = applied;
  }

  firstIndex(): number {
    return this.unstableSnapshot ? this.unstableSnapshot.metadata.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    invariant(term !== null, 'term of last index unknown');
    return term;
  }

  /** Term at `index`, or null when compacted away or beyond the end. */
  term(index: number): number | null {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return null;
    if (index >= this.unstableOffset) return this.unstableEntries[index - this.unstableOffset].term;
    if (this.unstableSnapshot && index === this.unstableSnapshot.metadata.index) {
      return this.unstableSnapshot.metadata.term;
    }
    try {
      return this.storage.term(index);
    } catch (err) {
      if (err instanceof RaftError && (err.code === 'COMPACTED' || err.code === 'UNAVAILABLE')) return null;
      throw err;
    }
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's "at least as up-to-date" comparison (§5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries `[lo, hi)` limited to `maxBytes` (at least one). Throws COMPACTED when `lo` is
   * below the first index: the caller then needs a snapshot.
   */
  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new RaftError('COMPACTED', `entries from ${lo}: compacted`);
    invariant(hi <= this.lastIndex() + 1, `entries to ${hi} beyond last index ${this.lastIndex()}`);
    let result: Entry[] = [];
    if (lo < this.unstableOffset) {
      result = this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes);
      // Storage stopped early (size limit): do not append unstable entries after a gap.
      if (result.length < Math.min(hi, this.unstableOffset) - lo) return result;
    }
    if (hi > this.unstableOffset) {
      const from = Math.max(lo, this.unstableOffset) - this.unstableOffset;
      const tail = this.unstableEntries.slice(from, hi - this.unstableOffset);
      result = result.length > 0 ? result.concat(tail) : tail;
    }
    return limitSize(result, maxBytes);
  }

  /** The newest snapshot: the unstable one, else storage's. */
  snapshot(): SnapshotSource {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }

  /**
   * Appends entries (their first index may rewrite an uncommitted suffix). Returns the
   * index from which the log was truncated, or null if nothing was overwritten.
   */
  append(entries: Entry[]): number | null {
    if (entries.length === 0) return null;
    const first = entries[0].index;
    invariant(first > this.committed, `append at ${first} would overwrite committed ${this.committed}`);
    invariant(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    const truncatedFrom = first <= this.lastIndex() ? first : null;
    // Entries from `first` on are new, even where an older Ready is writing others there.
    this.inProgress = Math.min(this.inProgress, first);
    if (first === this.unstableOffset + this.unstableEntries.length) {
      this.unstableEntries.push(...entries);
    } else if (first <= this.unstableOffset) {
      // Replaces everything unstable (and tells storage to drop its suffix from `first`).
      this.unstableOffset = first;
      this.unstableEntries = [...entries];
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, first - this.unstableOffset).concat(entries);
    }
    return truncatedFrom;
  }

  /**
   * The follower side of AppendEntries: if the log has `prevIndex` at `prevTerm`, append
   * the entries not already present (truncating at the first conflict) and advance the
   * commit index. Returns the last index known to match the leader, or null on mismatch.
   * `onTruncate` hears about a truncation before it happens.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    leaderCommit: number,
    entries: Entry[],
    onAppend: (appended: Entry[], truncatedFrom: number | null) => void,
  ): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      invariant(
        conflict > this.committed,
        `conflicting entry ${conflict} is already committed (${this.committed})`,
      );
      const fresh = entries.slice(conflict - (prevIndex + 1));
      const truncatedFrom = this.append(fresh);
      onAppend(fresh, truncatedFrom);
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Index of the first entry whose term differs from ours or that we lack; 0 if none. */
  private findConflict(entries: Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index <= `index` whose term is <= `term`, with its term.
   * Every index after it up to `index` has a term > `term`, so it cannot match a log whose
   * entry at `index` has term `term`.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; ; i--) {
      const t = this.term(i);
      // Unknown (compacted) term: stop here; the leader will probe from this point.
      if (t === null) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Commits `index` if its entry is from `term` (the leader's current-term rule). */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** Committed entries not handed out yet. */
  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (lo > this.committed) return [];
    return this.entries(lo, this.committed + 1, maxBytes);
  }

  appliedTo(index: number): void {
    invariant(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }

  /** Replaces the log with a snapshot from the leader. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstableSnapshot = snapshot;
    this.snapshotInProgress = false;
    this.unstableEntries = [];
    this.unstableOffset = snapshot.metadata.index + 1;
    this.inProgress = this.unstableOffset;
  }

  /** The snapshot not yet persisted (being written or not). */
  pendingSnapshot(): Snapshot | null {
    return this.unstableSnapshot;
  }

  /** The unstable snapshot, if no Ready carries it yet. */
  snapshotToWrite(): Snapshot | null {
    return this.snapshotInProgress ? null : this.unstableSnapshot;
  }

  /** Unstable entries no Ready carries yet. */
  entriesToWrite(): Entry[] {
    return this.unstableEntries.slice(this.inProgress - this.unstableOffset);
  }

  hasEntriesToWrite(): boolean {
    return this.inProgress < this.unstableOffset + this.unstableEntries.length;
  }

  /** A Ready now carries everything unstable, and the committed entries up to `applyingTo`. */
  acceptReady(applyingTo: number): void {
    this.inProgress = this.unstableOffset + this.unstableEntries.length;
    if (this.unstableSnapshot) this.snapshotInProgress = true;
    if (applyingTo > this.applying) this.applying = applyingTo;
  }

  /** The runtime persisted entries up to `index` (at `term`; a mismatch means they were since replaced). */
  /** The last index known to be on stable storage (what `advance` has confirmed). */
  lastStableIndex(): number {
    return Math.min(this.lastIndex(), this.unstableOffset - 1);
  }

  /**
   * A Ready ending at `index`/`term` was persisted. If that entry has since been replaced (a
   * newer leader's entry, carried by a later Ready), nothing becomes stable yet: the later
   * Ready's advance makes it so.
   */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset || this.term(index) !== term) return;
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
    this.inProgress = Math.max(this.inProgress, this.unstableOffset);
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.metadata.index === index) {
      this.unstableSnapshot = null;
      this.snapshotInProgress = false;
    }
  }
}
