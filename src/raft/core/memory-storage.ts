import { cloneConfState } from './conf-change.js';
import { limitSize } from './entry.js';
import { RaftError } from './errors.js';
import type { ConfState, Entry, HardState, RaftStorage, Ready, Snapshot } from './types.js';

/**
 * In-memory `RaftStorage` for tests and the simulator. Everything written here counts as
 * persisted: the simulator keeps it across a simulated crash and drops everything else.
 */
export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private snap: Snapshot;
  /** Entries kept: log[i] has index firstLogIndex + i. */
  private log: Entry[] = [];
  private firstLogIndex: number;
  /** Term of the entry at firstLogIndex - 1 (compacted away, or the snapshot's last entry). */
  private compactedTerm: number;

  /**
   * @param confState the founding configuration of a new cluster: the storage starts from
   * the bootstrap snapshot (see `bootstrapSnapshot`). Leave it out for a server that joins
   * an existing cluster: it starts empty and learns everything from its leader.
   */
  constructor(confState?: ConfState) {
    if (confState && confState.voters.length > 0) {
      this.snap = bootstrapSnapshot(confState);
      this.hardState = { term: this.snap.metadata.term, vote: null, commit: this.snap.metadata.index };
    } else {
      this.snap = {
        metadata: { index: 0, term: 0, confState: { voters: [], learners: [] } },
        data: new Uint8Array(),
      };
    }
    this.firstLogIndex = this.snap.metadata.index + 1;
    this.compactedTerm = this.snap.metadata.term;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('COMPACTED', `entries(${lo}): compacted`);
    if (hi > this.lastIndex() + 1)
      throw new RaftError('UNAVAILABLE', `entries(.., ${hi}): beyond last index`);
    return limitSize(this.log.slice(lo - this.firstLogIndex, hi - this.firstLogIndex), maxBytes);
  }

  term(index: number): number {
    if (index < this.firstLogIndex - 1) throw new RaftError('COMPACTED', `term(${index}): compacted`);
    if (index === this.firstLogIndex - 1) return this.compactedTerm;
    if (index > this.lastIndex()) throw new RaftError('UNAVAILABLE', `term(${index}): beyond last index`);
    return this.log[index - this.firstLogIndex].term;
  }

  firstIndex(): number {
    return this.firstLogIndex;
  }

  lastIndex(): number {
    return this.firstLogIndex + this.log.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  // --- write side (what the runtime does with a Ready) ---------------------------------

  setHardState(hardState: HardState): void {
    this.hardState = { ...hardState };
  }

  /** Appends entries, first dropping any stored entry at or after `entries[0].index`. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    if (first > this.lastIndex() + 1) {
      throw new RaftError('INVALID_ARGUMENT', `append at ${first} leaves a gap after ${this.lastIndex()}`);
    }
    // Entries already compacted are committed and identical: skip them.
    const fresh = entries.filter((e) => e.index >= this.firstLogIndex);
    if (fresh.length === 0) return;
    this.log.length = fresh[0].index - this.firstLogIndex;
    this.log.push(...fresh);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.snap.metadata.index) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `snapshot ${snapshot.metadata.index} is not newer than ${this.snap.metadata.index}`,
      );
    }
    this.snap = snapshot;
    this.log = [];
    this.firstLogIndex = snapshot.metadata.index + 1;
    this.compactedTerm = snapshot.metadata.term;
  }

  /**
   * Records a snapshot the application took at `index` (<= the applied index) and
   * compacts the log up to `index - retainEntries`. Keeping some entries lets a follower
   * that is only slightly behind catch up from the log instead of a whole snapshot.
   * `confState` is the configuration at `index` (`RaftCore.confStateAt(index)`).
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array, retainEntries = 0): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    if (index > this.lastIndex())
      throw new RaftError('UNAVAILABLE', `snapshot at ${index}: beyond last index`);
    this.snap = { metadata: { index, term: this.term(index), confState: cloneConfState(confState) }, data };
    this.compact(index - retainEntries);
    return this.snap;
  }

  /** Drops the entries up to `index` (at most the snapshot's index). */
  compact(index: number): void {
    const upTo = Math.min(index, this.snap.metadata.index);
    if (upTo < this.firstLogIndex) return;
    this.compactedTerm = this.term(upTo);
    this.log = this.log.slice(upTo + 1 - this.firstLogIndex);
    this.firstLogIndex = upTo + 1;
  }

  /** Persists the durable parts of a Ready, in the order the contract requires. */
  persist(ready: Ready): void {
    if (ready.snapshot) this.applySnapshot(ready.snapshot);
    this.append(ready.entries);
    if (ready.hardState) this.setHardState(ready.hardState);
  }
}

/**
 * The state every founding member of a new cluster starts from: a snapshot at index 1,
 * term 1, holding the founding configuration and an empty state machine. It sits at index 1
 * (not 0) so the leader can never send a joining server entry 1: a server that joins later
 * receives this snapshot, and with it the founding configuration, which lives in no log entry.
 */
export function bootstrapSnapshot(confState: ConfState): Snapshot {
  return { metadata: { index: 1, term: 1, confState: cloneConfState(confState) }, data: new Uint8Array() };
}
