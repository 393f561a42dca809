import type { NodeId, Snapshot, SnapshotChunk, SnapshotMetadata, SnapshotSource } from './types.js';

/**
 * InstallSnapshot in chunks, both ends. The leader keeps a window of chunks in flight (like
 * appends in replicate state) and the follower reassembles them in order, holding chunks
 * that arrive early. Every chunk is answered with how many leading bytes the follower
 * holds, so lost chunks are found and resent, and a follower that restarted mid-transfer
 * (and holds nothing) makes the leader start over.
 */

/** The leader's side, for one follower and one snapshot. */
export class SnapshotSender {
  /** The follower holds bytes [0, acked). */
  acked = 0;
  /** Chunks cover [acked, sent) in flight. */
  private sent = 0;
  /** Ticks since the follower last confirmed progress. */
  private idleTicks = 0;
  private sentAny = false;

  constructor(readonly snapshot: SnapshotSource) {}

  get index(): number {
    return this.snapshot.metadata.index;
  }

  get totalSize(): number {
    return this.snapshot.data.byteLength;
  }

  /** The chunks to send now: as many as fit in a window of `window` chunks after `acked`. */
  nextChunks(chunkSize: number, window: number): { offset: number; chunk: Uint8Array }[] {
    const out: { offset: number; chunk: Uint8Array }[] = [];
    const data = this.snapshot.data;
    // An empty snapshot is one empty chunk.
    if (data.byteLength === 0) {
      if (!this.sentAny) out.push({ offset: 0, chunk: data.subarray(0, 0) });
      this.sentAny = true;
      return out;
    }
    while (this.sent < data.byteLength && this.sent - this.acked < window * chunkSize) {
      const end = Math.min(data.byteLength, this.sent + chunkSize);
      out.push({ offset: this.sent, chunk: data.subarray(this.sent, end) });
      this.sent = end;
    }
    this.sentAny = this.sentAny || out.length > 0;
    return out;
  }

  /**
   * The follower holds `nextOffset` bytes, in answer to the chunk at `chunkOffset`. Returns
   * whether that changed anything (then the caller sends `nextChunks`).
   */
  onAck(nextOffset: number, chunkOffset: number): boolean {
    if (nextOffset > this.acked) {
      this.acked = nextOffset;
      this.sent = Math.max(this.sent, nextOffset);
      this.idleTicks = 0;
      return true;
    }
    if (nextOffset < this.acked && chunkOffset >= this.acked) {
      // An answer to a recent chunk reports less than confirmed before: the follower lost
      // what it had (restart). Start over from what it holds. Answers to older chunks are
      // stale (duplicated or reordered) and change nothing.
      this.rewind(nextOffset);
      return true;
    }
    return false;
  }

  /** Called every leader tick. */
  tick(): void {
    this.idleTicks++;
  }

  /**
   * With no progress for `idleLimit` ticks, something in flight was lost: go back to the
   * last confirmed offset and resend the window. Returns whether it did.
   */
  maybeRetransmit(idleLimit: number): boolean {
    if (this.idleTicks < idleLimit) return false;
    this.rewind(this.acked);
    return true;
  }

  private rewind(offset: number): void {
    this.acked = offset;
    this.sent = offset;
    this.idleTicks = 0;
    this.sentAny = false;
  }
}

/** Most early chunks a follower holds while waiting for a missing one. */
const MAX_EARLY_CHUNKS = 1024;

/** The follower's side: one transfer at a time, identified by leader, term and snapshot. */
export class SnapshotReceiver {
  private key: string | null = null;
  private metadata: SnapshotMetadata | null = null;
  private totalSize = 0;
  private received = 0;
  /** The image, filled in place as chunks arrive (no copy of the whole at the end). */
  private buffer: Uint8Array | null = null;
  /** Chunks that arrived early, copied into place already: offset → length. */
  private early = new Map<number, number>();

  /**
   * Takes one chunk. Returns the number of leading bytes now held, or the whole snapshot
   * once the last byte arrived.
   */
  accept(m: SnapshotChunk): { held: number } | { snapshot: Snapshot } {
    const key = transferKey(m.from, m.term, m.metadata, m.totalSize);
    if (key !== this.key && !this.start(key, m.metadata, m.totalSize)) return { held: 0 };
    if (m.offset === this.received) {
      this.received += this.place(m.offset, m.chunk);
      for (
        let next = this.early.get(this.received);
        next !== undefined;
        next = this.early.get(this.received)
      ) {
        this.early.delete(this.received);
        this.received += next;
      }
    } else if (m.offset > this.received && this.early.size < MAX_EARLY_CHUNKS && !this.early.has(m.offset)) {
      this.early.set(m.offset, this.place(m.offset, m.chunk));
    }
    if (this.received < this.totalSize) return { held: this.received };
    const snapshot: Snapshot = {
      metadata: this.metadata as SnapshotMetadata,
      data: this.buffer ?? new Uint8Array(),
    };
    this.reset();
    return { snapshot };
  }

  reset(): void {
    this.key = null;
    this.metadata = null;
    this.totalSize = 0;
    this.received = 0;
    this.buffer = null;
    this.early = new Map();
  }

  /** Begins a transfer; false when its declared size cannot be held (the chunk is ignored). */
  private start(key: string, metadata: SnapshotMetadata, totalSize: number): boolean {
    this.reset();
    if (!Number.isSafeInteger(totalSize) || totalSize < 0) return false;
    try {
      this.buffer = totalSize > 0 ? new Uint8Array(totalSize) : null;
    } catch {
      return false;
    }
    this.key = key;
    this.metadata = metadata;
    this.totalSize = totalSize;
    return true;
  }

  /** Copies a chunk into place (clipped at the declared size: never trust a chunk's length); returns its length. */
  private place(offset: number, chunk: Uint8Array): number {
    const room = Math.max(0, this.totalSize - offset);
    const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
    this.buffer?.set(part, offset);
    return part.byteLength;
  }
}

function transferKey(leader: NodeId, term: number, meta: SnapshotMetadata, totalSize: number): string {
  return `${leader}/${term}/${meta.index}/${meta.term}/${totalSize}`;
}
