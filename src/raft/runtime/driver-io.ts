import type { ConfState, Entry, HardState, Message, RaftStorage, Ready, Snapshot } from '../core/index.js';

/**
 * What the Raft driver (driver.ts) is given instead of doing I/O itself: a clock, a log disk
 * and a way to send. The production node passes the wall clock, LogStorage and the TCP
 * transport; the simulator virtual time, MemoryRaftStorage behind a delayed queue, and its
 * lossy network. Every callback is called at most once and never synchronously from the call
 * that registered it, so the driver runs the same code on both.
 */

/** Time, timers and "later in this turn" (the wall clock, or the simulator's event queue). */
export interface DriverClock {
  /** Milliseconds on a monotonic scale (only differences matter). */
  now(): number;
  /** Runs `run` after `ms`; the returned function cancels it. */
  after(ms: number, run: () => void): () => void;
  /** Runs `run` once the current turn is over (input arriving in one turn joins one Ready). */
  soon(run: () => void): void;
}

/** What one Ready asks to be made durable. */
export interface PersistBatch {
  snapshot: Snapshot | null;
  entries: Entry[];
  hardState: HardState | null;
}

/** Completion of a disk operation: null, or the error that failed it (fatal for the node). */
export type DiskDone = (err: unknown) => void;

/**
 * The log disk: the core's read side (`RaftStorage`, synchronous) and two asynchronous writes.
 * Writes complete in the order they were issued (a disk with one writer); the driver may
 * issue a write before the previous one completed (`maxWritesInFlight`). A snapshot save runs
 * beside the writes (it may take seconds for a large state) and completes whenever it is
 * done. Reads must see a write once its `done` was called.
 */
export interface LogDisk extends RaftStorage {
  /** Makes a Ready's snapshot, entries and hard state durable (fsync'd when `sync`). */
  write(batch: PersistBatch, sync: boolean, done: DiskDone): void;
  /**
   * Stores the snapshot image of the state at `index` (its chunks concatenated, pulled one at
   * a time: producing one costs the state machine a slice of work, see snapshot-image.ts) and
   * compacts the log up to `index - keepEntries`. Ignored (and `image` closed) if the disk
   * already holds a snapshot at or beyond `index` (one received from the leader meanwhile),
   * or if the image ends early because such a snapshot replaced the state (SNAPSHOT_SUPERSEDED).
   */
  saveSnapshot(
    index: number,
    confState: ConfState,
    image: Iterable<Uint8Array>,
    keepEntries: number,
    done: DiskDone,
  ): void;
  /** The stored snapshot's data, in slices (for a restart; a large image is never held whole). */
  snapshotParts(): Iterable<Uint8Array>;
}

/**
 * What happens inside the driver, for the simulator's invariant checkers, tests and metrics.
 * Hooks run synchronously at the point named; they must not call back into the driver.
 */
export interface DriverObserver {
  /**
   * A Ready's messages leave: `messages` as merged per peer, `mergedAway` how many fewer there
   * are than the core produced, `early` true for the leader's appends and heartbeats sent
   * before the Ready's write completed (thesis §10.2.1).
   */
  onSent?(messages: readonly Message[], mergedAway: number, early: boolean): void;
  /** A Ready's write was issued while `inFlight` earlier writes had not completed (pipelining). */
  onWriteIssued?(inFlight: number): void;
  /** A Ready's write completed; nothing of it was applied yet. */
  onPersisted?(ready: Ready): void;
  /** A committed entry is about to be applied (`appliedIndex` still the previous index). */
  onApply?(entry: Entry): void;
  /** The entry was applied; `result` is the state machine's answer (undefined for internal entries). */
  onApplied?(entry: Entry, result: unknown): void;
  /** A snapshot from the leader is about to replace the state. */
  onRestoreSnapshot?(snapshot: Snapshot): void;
  /** The state machine now holds a snapshot's state (the leader's, or the disk's at start). */
  onRestored?(index: number): void;
  /** The node took a snapshot of its state at `index` (`parts` concatenated is the image). */
  onSnapshotTaken?(index: number, parts: Uint8Array[]): void;
  /** One clock tick went by (after the core's). */
  onTick?(): void;
}

/** The production clock: wall time, Node timers, setImmediate. */
export const wallClock: DriverClock = {
  now: () => performance.now(),
  after(ms, run) {
    const timer = setTimeout(run, ms);
    return () => clearTimeout(timer);
  },
  soon: (run) => void setImmediate(run),
};
