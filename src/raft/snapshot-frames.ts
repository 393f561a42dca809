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
 * are views of the chunk when a frame lies inside one chunk; a frame that spans chunks is
 * gathered from copies of its own bytes only (never the rest of a chunk) and joined once whole.
 */
export class FrameSplitter {
  /** A frame header cut by a chunk's end. */
  readonly #head = Buffer.alloc(FRAME_HEADER);
  #headBytes = 0;
  /** The frame being gathered across chunks: its length, checksum and the parts so far (copies). */
  #length = -1;
  #crc = 0;
  #parts: Buffer[] = [];
  #partsBytes = 0;
  /** Bodies returned so far (for messages). */
  frames = 0;

  /** Takes the next chunk; returns the bodies it completes. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const end = buf.byteLength;
    let at = 0;
    while (at < end) {
      if (this.#length < 0) {
        if (this.#headBytes === 0 && end - at >= FRAME_HEADER) {
          this.#length = buf.readUInt32BE(at);
          this.#crc = buf.readUInt32BE(at + 4);
          at += FRAME_HEADER;
        } else {
          const take = Math.min(FRAME_HEADER - this.#headBytes, end - at);
          buf.copy(this.#head, this.#headBytes, at, at + take);
          this.#headBytes += take;
          at += take;
          if (this.#headBytes < FRAME_HEADER) break;
          this.#headBytes = 0;
          this.#length = this.#head.readUInt32BE(0);
          this.#crc = this.#head.readUInt32BE(4);
        }
        if (end - at >= this.#length) {
          out.push(this.#verified(buf.subarray(at, at + this.#length)));
          at += this.#length;
          this.#length = -1;
          continue;
        }
      }
      // The frame goes on past this chunk, or began in an earlier one.
      const take = Math.min(this.#length - this.#partsBytes, end - at);
      // A copy: the caller may reuse its chunk once this returns.
      if (take > 0) {
        const part = Buffer.allocUnsafe(take);
        buf.copy(part, 0, at, at + take);
        this.#parts.push(part);
      }
      this.#partsBytes += take;
      at += take;
      if (this.#partsBytes < this.#length) break;
      const body = this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#length);
      this.#parts = [];
      this.#partsBytes = 0;
      this.#length = -1;
      out.push(this.#verified(body));
    }
    return out;
  }

  /** The stream is over: throws if a frame was left incomplete. */
  end(): void {
    if (this.#headBytes > 0 || this.#length >= 0) throw new SnapshotFrameError('snapshot image is cut short');
  }

  #verified(body: Buffer): Buffer {
    if (crc32(body) !== this.#crc) {
      throw new SnapshotFrameError(`snapshot image frame ${this.frames} fails its checksum`);
    }
    this.frames++;
    return body;
  }
}
