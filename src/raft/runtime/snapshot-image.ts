import { Packr } from 'msgpackr';
import type { ApplyContext, ReplicatedStateMachine, RestoreSink } from '../replica.js';
import { FrameSplitter, frameBytes, SnapshotFrameError } from '../snapshot-frames.js';
import { LogCorruptError } from './errors.js';
import type { MemberAddress } from './member-book.js';

/**
 * A runtime snapshot image, as stored and as shipped to followers: frames (see
 * src/raft/snapshot-frames.ts), the first holding the runtime's header (the replicated
 * address book), the rest the state machine's own frames.
 */
const packr = new Packr({ useRecords: false, moreTypes: false });
const MAGIC = 'kvkit-raft-snapshot';
const VERSION = 2;

export interface SnapshotHeader {
  members: Record<string, MemberAddress>;
}

/**
 * The image's framed bytes, produced as they are pulled: the header frame, then one frame per
 * state machine frame (copy-on-write, see ReplicatedStateMachine.snapshotFrames). The image
 * is of the state at the moment of this call; pulling a chunk costs one frame's work.
 */
export function imageChunks(header: SnapshotHeader, sm: ReplicatedStateMachine): Generator<Uint8Array> {
  const head = frameBytes(packr.pack({ magic: MAGIC, v: VERSION, members: header.members }));
  const bodies = sm.snapshotFrames ? sm.snapshotFrames() : [sm.snapshot()][Symbol.iterator]();
  return (function* () {
    try {
      yield head;
      for (let next = bodies.next(); !next.done; next = bodies.next()) yield frameBytes(next.value);
    } finally {
      bodies.return?.();
    }
  })();
}

/**
 * Restores an image arriving in chunks of any size (file reads, a leader's InstallSnapshot):
 * each `push` decodes the frames it completes; `finish` replaces the state machine's state
 * and returns the header. Damage is a LogCorruptError.
 */
export class ImageRestorer {
  readonly #splitter = new FrameSplitter();
  readonly #sm: ReplicatedStateMachine;
  readonly #sink: RestoreSink | null;
  /** Bodies for a state machine without `beginRestore` (it restores from one body). */
  readonly #bodies: Uint8Array[] = [];
  #header: SnapshotHeader | null = null;
  #bytes = 0;

  readonly #ctx: ApplyContext;

  constructor(sm: ReplicatedStateMachine, ctx: ApplyContext) {
    this.#sm = sm;
    this.#sink = sm.beginRestore ? sm.beginRestore(ctx) : null;
    this.#ctx = ctx;
  }

  push(chunk: Uint8Array): void {
    this.#bytes += chunk.byteLength;
    for (const body of this.#guard(() => this.#splitter.push(chunk))) {
      if (this.#header === null) this.#header = this.#guard(() => decodeHeader(body));
      else if (this.#sink) this.#guard(() => (this.#sink as RestoreSink).push(body));
      else this.#bodies.push(body);
    }
  }

  /** Replaces the state; returns the image's header, or null for an empty image (nothing restored). */
  finish(): SnapshotHeader | null {
    if (this.#bytes === 0) return null;
    this.#guard(() => this.#splitter.end());
    if (this.#header === null) throw new LogCorruptError('snapshot image is empty');
    if (this.#sink) {
      this.#guard(() => (this.#sink as RestoreSink).finish());
    } else {
      if (this.#bodies.length !== 1) throw new LogCorruptError('snapshot image has no state machine frame');
      this.#sm.restore(this.#bodies[0], this.#ctx);
    }
    return this.#header;
  }

  #guard<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof LogCorruptError) throw err;
      if (err instanceof SnapshotFrameError || (err as { code?: string })?.code === 'LOG_CORRUPT') {
        throw new LogCorruptError((err as Error).message, { cause: err });
      }
      throw err;
    }
  }
}

function decodeHeader(body: Uint8Array): SnapshotHeader {
  let header: { magic?: unknown; v?: unknown; members?: unknown };
  try {
    header = packr.unpack(body);
  } catch (err) {
    throw new LogCorruptError('snapshot image header is undecodable', { cause: err });
  }
  if (header?.magic !== MAGIC) throw new LogCorruptError('snapshot image has no kvkit header');
  if (header.v !== VERSION)
    throw new LogCorruptError(`snapshot image version ${String(header.v)} is not ${VERSION}`);
  return { members: (header.members ?? {}) as Record<string, MemberAddress> };
}

/** Restores an image held in memory (or read in slices) at once; null for an empty image. */
export function restoreImage(
  sm: ReplicatedStateMachine,
  ctx: ApplyContext,
  parts: Uint8Array | Iterable<Uint8Array>,
): SnapshotHeader | null {
  const restorer = new ImageRestorer(sm, ctx);
  for (const part of parts instanceof Uint8Array ? [parts] : parts) restorer.push(part);
  return restorer.finish();
}

/**
 * The chunks of `image` as they are pulled, also kept in `parts`; `onComplete` runs once
 * the last one was pulled. Closing it (`return()`) closes `image` (ending its copy-on-write
 * snapshot) whether or not it was started.
 */
export function recordChunks(
  image: Iterator<Uint8Array>,
  onComplete: (parts: Uint8Array[]) => void,
): IterableIterator<Uint8Array> {
  const parts: Uint8Array[] = [];
  const it: IterableIterator<Uint8Array> = {
    next() {
      const next = image.next();
      if (next.done) onComplete(parts);
      else parts.push(next.value);
      return next;
    },
    return(value?: unknown) {
      image.return?.(value as undefined);
      return { done: true, value: undefined };
    },
    [Symbol.iterator]: () => it,
  };
  return it;
}
