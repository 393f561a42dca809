import { Packr } from 'msgpackr';
import { KVError } from '../../store/errors.js';

/**
 * Peer wire format: each frame is a 4-byte big-endian length and a msgpack body. Core
 * messages are plain values (strings, numbers, arrays, Uint8Array), so msgpack carries
 * them as they are; binary fields come back as Buffers (Uint8Array subclasses).
 */

/** Largest frame accepted: an append is bounded by maxSizePerMsg (1 MiB) plus one entry. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const packr = new Packr({ useRecords: false, moreTypes: false });

export class FrameError extends KVError {
  constructor(message: string) {
    super('PROTOCOL_ERROR', message);
  }
}

/** Encodes one value as a frame: [header, body] (written back to back, without a copy). */
export function encodeFrame(value: unknown): [Buffer, Buffer] {
  const body = packr.pack(value);
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.byteLength, 0);
  return [header, body];
}

/** Splits a byte stream into decoded frames. */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** @param maxFrameBytes the largest frame body accepted (a larger one is a FrameError). */
  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Feeds a chunk; returns every value completed by it. Throws FrameError on a bad frame. */
  push(chunk: Buffer): unknown[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.byteLength;
    const out: unknown[] = [];
    for (;;) {
      if (this.pendingBytes < 4) break;
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxFrameBytes)
        throw new FrameError(`frame of ${length} bytes exceeds the maximum of ${this.maxFrameBytes}`);
      if (this.pendingBytes < 4 + length) break;
      const frame = this.take(4 + length);
      try {
        out.push(packr.unpack(frame.subarray(4)));
      } catch (err) {
        throw new FrameError(`undecodable frame: ${(err as Error).message}`);
      }
    }
    return out;
  }

  /** Bytes buffered for an incomplete frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  private peek(n: number): Buffer {
    if (this.pending[0].byteLength >= n) return this.pending[0];
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.pending) {
      filled += chunk.copy(out, filled, 0, Math.min(chunk.byteLength, n - filled));
      if (filled === n) break;
    }
    return out;
  }

  /** Removes and returns the next `n` bytes (a view of the chunk when it holds them all). */
  private take(n: number): Buffer {
    let out: Buffer;
    const first = this.pending[0];
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.pending.shift();
      else this.pending[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.pending, this.pendingBytes);
      out = joined.subarray(0, n);
      this.pending = joined.byteLength > n ? [joined.subarray(n)] : [];
    }
    this.pendingBytes -= n;
    return out;
  }
}
