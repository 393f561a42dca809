import type { ConfState, Entry, HardState, SnapshotSource } from '../core/index.js';
import type { DiskDone, LogDisk, PersistBatch } from './driver-io.js';
import type { LogStorage } from './log-storage.js';

/**
 * LogStorage (the segment log) as the driver's log disk. Writes go to the storage as they
 * are issued (it writes them in that order, several in flight sharing a flush); a snapshot
 * save streams its image beside them.
 */
export class LogStorageDisk implements LogDisk {
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

  snapshot(): SnapshotSource {
    return this.storage.snapshot();
  }

  snapshotParts(): Iterable<Uint8Array> {
    return this.storage.snapshotSlices();
  }

  write(batch: PersistBatch, sync: boolean, done: DiskDone): void {
    this.run(() => this.storage.persist(batch, sync), done);
  }

  saveSnapshot(
    index: number,
    confState: ConfState,
    image: Iterable<Uint8Array>,
    keepEntries: number,
    done: DiskDone,
  ): void {
    this.run(() => this.storage.createSnapshot(index, confState, image, keepEntries), done);
  }

  private run(op: () => Promise<void>, done: DiskDone): void {
    let started: Promise<void>;
    try {
      started = op();
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      () => done(null),
      (err: unknown) => done(err),
    );
  }
}
