import type { ConfState, Entry, HardState, Snapshot } from '../core/index.js';
import type { DiskDone, LogDisk, PersistBatch } from './driver-io.js';
import type { LogStorage } from './log-storage.js';

/**
 * LogStorage (LMDB) as the driver's log disk. Each operation starts once the one before it
 * completed, so writes and snapshot saves reach the file in the order the driver issued them.
 */
export class LogStorageDisk implements LogDisk {
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly storage: LogStorage) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.storage.initialState();
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.storage.entries(lo, hi, maxBytes);
  }

  term(index: number): number {
    return this.storage.term(index);
  }

  firstIndex(): number {
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.storage.lastIndex();
  }

  snapshot(): Snapshot {
    return this.storage.snapshot();
  }

  snapshotParts(): Uint8Array[] {
    return this.storage.snapshotParts();
  }

  write(batch: PersistBatch, sync: boolean, done: DiskDone): void {
    this.run(() => this.storage.persist(batch, sync), done);
  }

  saveSnapshot(
    index: number,
    confState: ConfState,
    parts: Uint8Array[],
    keepEntries: number,
    done: DiskDone,
  ): void {
    this.run(() => this.storage.createSnapshot(index, confState, parts, keepEntries), done);
  }

  private run(op: () => Promise<void>, done: DiskDone): void {
    this.tail = this.tail.then(op).then(
      () => done(null),
      (err: unknown) => done(err),
    );
  }
}
