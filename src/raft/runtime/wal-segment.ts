import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  write,
  writeSync,
  writev,
} from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { LogCorruptError } from './errors.js';

/**
 * One segment file of the write-ahead log: a 32-byte header, then records (record-codec.ts),
 * then zeros up to the segment's preallocated size. Segments are zero-filled to full size
 * before use (and renamed into place only then), so appending never grows a file: one
 * `fdatasync` flushes the data alone, with no file-size or block-allocation metadata
 * (etcd preallocates its WAL files for the same reason, wal/wal.go).
 *
 * Header: magic "KVKITWAL" | u32 version | f64 sequence number | f64 size | u32 CRC-32 of the rest.
 */

export const SEGMENT_HEADER = 32;
const MAGIC = Buffer.from('KVKITWAL');
const VERSION = 1;
const ZEROS = Buffer.alloc(1024 * 1024);

export function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

/** The sequence number in a segment's file name, or null for another file. */
export function parseSegmentName(name: string): number | null {
  const m = /^([0-9a-f]{16})\.wal$/.exec(name);
  return m ? Number.parseInt(m[1], 16) : null;
}

function encodeHeader(seq: number, size: number): Buffer {
  const out = Buffer.alloc(SEGMENT_HEADER);
  MAGIC.copy(out, 0);
  out.writeUInt32BE(VERSION, 8);
  out.writeDoubleBE(seq, 12);
  out.writeDoubleBE(size, 20);
  out.writeUInt32BE(crc32(out.subarray(0, 28)), 28);
  return out;
}

/** Checks a segment's header against its name and file size; throws LogCorruptError. */
export function checkHeader(path: string, header: Buffer, seq: number, fileSize: number): number {
  if (header.byteLength < SEGMENT_HEADER || !header.subarray(0, 8).equals(MAGIC)) {
    throw new LogCorruptError(`${path}: not a kvkit log segment (no header)`);
  }
  if (crc32(header.subarray(0, 28)) !== header.readUInt32BE(28)) {
    throw new LogCorruptError(`${path}: segment header fails its checksum`);
  }
  if (header.readUInt32BE(8) !== VERSION)
    throw new LogCorruptError(`${path}: segment version ${header.readUInt32BE(8)}`);
  if (header.readDoubleBE(12) !== seq)
    throw new LogCorruptError(`${path}: segment header names sequence ${header.readDoubleBE(12)}`);
  const size = header.readDoubleBE(20);
  if (fileSize < size) {
    throw new LogCorruptError(`${path}: segment is truncated (${fileSize} bytes of ${size})`);
  }
  return size;
}

/** An open segment. */
export class Segment {
  constructor(
    readonly seq: number,
    readonly path: string,
    readonly fd: number,
    /** Bytes in the file (header included). */
    readonly size: number,
  ) {}

  /** Reads `length` bytes at `position` (page cache: microseconds). */
  read(position: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, position + done);
      if (n === 0) throw new LogCorruptError(`${this.path}: read past the end at ${position + done}`);
      done += n;
    }
    return out;
  }

  /** Writes buffers at `position` (off the event loop). */
  async write(buffers: Uint8Array[], position: number): Promise<void> {
    let at = position;
    for (const part of batches(buffers)) {
      let total = 0;
      for (const b of part) total += b.byteLength;
      // writev: one system call for a group's records (a short write is finished below).
      const written = await new Promise<number>((resolve, reject) =>
        writev(this.fd, part, at, (err, n) => (err ? reject(err) : resolve(n))),
      );
      if (written < total) await this.#writeRest(Buffer.concat(part).subarray(written), at + written);
      at += total;
    }
  }

  async #writeRest(rest: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < rest.byteLength) {
      done += await new Promise<number>((resolve, reject) =>
        write(this.fd, rest, done, rest.byteLength - done, position + done, (err, n) =>
          err ? reject(err) : resolve(n),
        ),
      );
    }
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  /** Zeroes `[from, to)` and syncs: a torn tail removed at start. */
  zeroSync(from: number, to: number): void {
    for (let at = from; at < to; at += ZEROS.byteLength) {
      writeSync(this.fd, ZEROS, 0, Math.min(ZEROS.byteLength, to - at), at);
    }
    fdatasyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** writev takes at most IOV_MAX (1024) buffers. */
function* batches(buffers: Uint8Array[]): Generator<Uint8Array[]> {
  for (let i = 0; i < buffers.length; i += 1024) yield buffers.slice(i, i + 1024);
}

/**
 * Creates a zero-filled segment of `size` bytes, off the event loop, and renames it into
 * place only once it is whole and synced (a crash leaves a `.tmp` file, removed at start).
 */
export async function preallocateSegment(dir: string, seq: number, size: number): Promise<Segment> {
  const path = join(dir, segmentName(seq));
  const tmp = `${path}.tmp`;
  const handle = await openAsync(tmp, 'w', 0o600);
  try {
    await handle.write(encodeHeader(seq, size), 0, SEGMENT_HEADER, 0);
    for (let at = SEGMENT_HEADER; at < size; at += ZEROS.byteLength) {
      await handle.write(ZEROS, 0, Math.min(ZEROS.byteLength, size - at), at);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  renameSync(tmp, path);
  syncDir(dir);
  return new Segment(seq, path, openSync(path, 'r+'), size);
}

/** The same, blocking (the first segment of a new data dir, before anything runs). */
export function preallocateSegmentSync(dir: string, seq: number, size: number): Segment {
  const path = join(dir, segmentName(seq));
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, encodeHeader(seq, size), 0, SEGMENT_HEADER, 0);
    for (let at = SEGMENT_HEADER; at < size; at += ZEROS.byteLength) {
      writeSync(fd, ZEROS, 0, Math.min(ZEROS.byteLength, size - at), at);
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncDir(dir);
  return new Segment(seq, path, openSync(path, 'r+'), size);
}

/** Makes a rename or unlink in `dir` durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
