import type { ConfState, Entry, HardState, MemoryRaftStorage, Snapshot } from '../core/index.js';
import type { DiskDone, LogDisk, PersistBatch } from '../runtime/driver-io.js';
import type { EventQueue } from './event-queue.js';

/**
 * The simulated disk under one incarnation of a node: MemoryRaftStorage (what survives a
 * crash) behind a writer that takes uniform [0, maxDelayMs] of virtual time per operation and
 * completes operations in the order they were issued, as one disk does. `crash()` loses every
 * operation not yet completed: power loss.
 */
export class SimDisk implements LogDisk {
  private lastCompletion = 0;
  private crashed = false;

  constructor(
    private readonly storage: MemoryRaftStorage,
    private readonly queue: EventQueue,
    private readonly delayMs: () => number,
  ) {}

  crash(): void {
    this.crashed = true;
  }

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

  snapshotParts(): Iterable<Uint8Array> {
    return [this.storage.snapshot().data];
  }

  write(batch: PersistBatch, _sync: boolean, done: DiskDone): void {
    this.run(() => {
      if (batch.snapshot) this.storage.applySnapshot(batch.snapshot);
      this.storage.append(batch.entries);
      if (batch.hardState) this.storage.setHardState(batch.hardState);
    }, done);
  }

  saveSnapshot(
    index: number,
    confState: ConfState,
    image: Iterable<Uint8Array>,
    keepEntries: number,
    done: DiskDone,
  ): void {
    // The image is pulled when the write happens, virtual time later: the state machine has
    // applied more by then, and its copy-on-write keeps the image of `index`.
    this.run(() => {
      let parts: Uint8Array[];
      try {
        parts = [...image];
      } catch (err) {
        // A snapshot from the leader replaced the state meanwhile: nothing to save.
        if ((err as { code?: string })?.code === 'SNAPSHOT_SUPERSEDED') return;
        throw err;
      }
      if (index <= this.storage.snapshot().metadata.index) return;
      this.storage.createSnapshot(index, confState, concat(parts), keepEntries);
    }, done);
  }

  private run(op: () => void, done: DiskDone): void {
    const at = Math.max(this.lastCompletion, this.queue.now + this.delayMs());
    this.lastCompletion = at;
    this.queue.schedule(at - this.queue.now, () => {
      if (this.crashed) return;
      op();
      done(null);
    });
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
