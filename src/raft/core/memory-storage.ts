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
  /** Entries after the snapshot: log[i] has index snap.metadata.index + 1 + i. */
  private log: Entry[] = [];

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
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  entries(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo < this.firstIndex()) throw new RaftError('COMPACTED', `entries(${lo}): compacted`);
    if (hi > this.lastIndex() + 1)
      throw new RaftError('UNAVAILABLE', `entries(.., ${hi}): beyond last index`);
    const offset = this.snap.metadata.index + 1;
    return limitSize(this.log.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const snapIndex = this.snap.metadata.index;
    if (index < snapIndex) throw new RaftError('COMPACTED', `term(${index}): compacted`);
    if (index === snapIndex) return this.snap.metadata.term;
    if (index > this.lastIndex()) throw new RaftError('UNAVAILABLE', `term(${index}): beyond last index`);
    return this.log[index - snapIndex - 1].term;
  }

  firstIndex(): number {
    return this.snap.metadata.index + 1;
  }

  lastIndex(): number {
    return this.snap.metadata.index + this.log.length;
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
    const firstKept = this.firstIndex();
    // Entries already covered by the snapshot are committed and identical: skip them.
    const fresh = entries.filter((e) => e.index >= firstKept);
    if (fresh.length === 0) return;
    this.log.length = fresh[0].index - firstKept;
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
  }

  /**
   * Records a snapshot the application took at `index` (<= the applied index) and drops
   * the log entries it covers. `confState` is the configuration at `index`
   * (`RaftCore.confStateAt(index)`).
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) return this.snap;
    if (index > this.lastIndex())
      throw new RaftError('UNAVAILABLE', `snapshot at ${index}: beyond last index`);
    const term = this.term(index);
    this.log = this.log.slice(index - this.snap.metadata.index);
    this.snap = { metadata: { index, term, confState: cloneConfState(confState) }, data };
    return this.snap;
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
