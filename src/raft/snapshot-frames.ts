import { crc32 } from 'node:zlib';

/**
 * Snapshot images as a stream of frames: `u32 body length | u32 CRC-32 of the body | body`.
 * The state machine produces and consumes frame bodies one at a time (so an image of any size
 * is taken, stored, shipped and restored in slices, never as one blocking step); the runtime
 * puts its own header frame first. Every frame checks itself wherever the image travels: a
 * file on disk, the chunks of an InstallSnapshot.
 */

export const FRAME_HEADER = 8;

/** A damaged or cut-short image. */
export class SnapshotFrameError extends Error {
  readonly code = 'LOG_CORRUPT';
}

/** One frame around `body`. */
export function frameBytes(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  out.writeUInt32BE(crc32(body), 4);
  out.set(body, FRAME_HEADER);
  return out;
}

/** Frames around every body, in one buffer. */
export function joinFrames(bodies: Iterable<Uint8Array>): Buffer {
  return Buffer.concat([...bodies].map(frameBytes));
}

/** The bodies of an image held whole in memory. */
export function splitFrames(image: Uint8Array): Uint8Array[] {
  const splitter = new FrameSplitter();
  const bodies = splitter.push(image);
  splitter.end();
  return bodies;
}

/**
 * Cuts a stream of bytes, arriving in chunks of any size, into verified frame bodies. Bodies
 * are copies when a frame spans chunks, views of the chunk otherwise.
 */
export class FrameSplitter {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Bodies returned so far (for messages). */
  frames = 0;

  /** Takes the next chunk; returns the bodies it completes. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let buf: Buffer;
    if (this.#pendingBytes > 0) {
      buf = Buffer.concat([...this.#pending, chunk]);
      this.#pending = [];
      this.#pendingBytes = 0;
    } else {
      buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    let at = 0;
    while (at + FRAME_HEADER <= buf.byteLength) {
      const length = buf.readUInt32BE(at);
      const end = at + FRAME_HEADER + length;
      if (end > buf.byteLength) break;
      const body = buf.subarray(at + FRAME_HEADER, end);
      if (crc32(body) !== buf.readUInt32BE(at + 4)) {
        throw new SnapshotFrameError(`snapshot image frame ${this.frames} fails its checksum`);
      }
      out.push(body);
      this.frames++;
      at = end;
    }
    if (at < buf.byteLength) {
      // A copy: the caller may reuse its chunk once this returns.
      this.#pending.push(Buffer.from(buf.subarray(at)));
      this.#pendingBytes = buf.byteLength - at;
    }
    return out;
  }

  /** The stream is over: throws if a frame was left incomplete. */
  end(): void {
    if (this.#pendingBytes > 0) throw new SnapshotFrameError('snapshot image is cut short');
  }
}
