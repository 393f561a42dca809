import { closeSync, fstatSync, openSync, readdirSync, readSync, renameSync, rmSync } from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { join } from 'node:path';
import type { SnapshotData, SnapshotMetadata } from '../core/index.js';
import { LogCorruptError } from './errors.js';
import { decodeMeta, encodeMeta } from './record-codec.js';
import { syncDir } from './wal-segment.js';

/**
 * A snapshot on disk: `snap-<index>.snap` holds the image bytes, then a trailer: the
 * metadata (index, term, configuration, image size; CRC-checked), its length and a magic.
 * The image checks itself frame by frame (src/raft/snapshot-frames.ts). A snapshot is
 * written to a `.tmp` file in slices off the event loop, synced, and renamed into place,
 * so a file with the final name is whole.
 */

const MAGIC = Buffer.from('KVKITSNP');
const TRAILER = 4 + MAGIC.byteLength;
/** Bytes gathered before each write, and read per slice. */
const SLICE_BYTES = 1024 * 1024;
/** Producing image chunks yields the event loop at least this often (ms). */
const YIELD_EVERY_MS = 5;

interface StoredMeta extends SnapshotMetadata {
  imageBytes: number;
}

export function snapshotName(index: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}.snap`;
}

function parseSnapshotName(name: string): number | null {
  const m = /^snap-([0-9a-f]{16})\.snap$/.exec(name);
  return m ? Number.parseInt(m[1], 16) : null;
}

/** Snapshot files in `dir`, newest first. */
export function listSnapshots(dir: string): { index: number; path: string }[] {
  const out: { index: number; path: string }[] = [];
  for (const name of readdirSync(dir)) {
    const index = parseSnapshotName(name);
    if (index !== null) out.push({ index, path: join(dir, name) });
  }
  return out.sort((a, b) => b.index - a.index);
}

/**
 * Writes a snapshot from chunks pulled one at a time (each pull may cost the producer some
 * work: it is given the event loop back between slices). Returns the file's final path.
 */
export async function writeSnapshotFile(
  dir: string,
  metadata: SnapshotMetadata,
  chunks: Iterable<Uint8Array>,
): Promise<string> {
  const path = join(dir, snapshotName(metadata.index));
  const tmp = `${path}.tmp`;
  const handle = await openAsync(tmp, 'w', 0o600);
  let position = 0;
  try {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const buffer = pending.length === 1 ? pending[0] : Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      const { bytesWritten } = await handle.write(buffer, 0, buffer.byteLength, position);
      if (bytesWritten !== buffer.byteLength) throw new Error(`short write to ${tmp}`);
      position += buffer.byteLength;
    };
    let since = performance.now();
    for (const chunk of chunks) {
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      if (pendingBytes >= SLICE_BYTES) {
        await flush();
        since = performance.now();
      } else if (performance.now() - since > YIELD_EVERY_MS) {
        await new Promise((r) => setImmediate(r));
        since = performance.now();
      }
    }
    await flush();
    const meta = encodeMeta({ ...metadata, imageBytes: position } satisfies StoredMeta);
    const trailer = Buffer.allocUnsafe(meta.byteLength + TRAILER);
    trailer.set(meta, 0);
    trailer.writeUInt32BE(meta.byteLength, meta.byteLength);
    MAGIC.copy(trailer, meta.byteLength + 4);
    await handle.write(trailer, 0, trailer.byteLength, position);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => {});
    rmSync(tmp, { force: true });
    throw err;
  }
  await handle.close();
  renameSync(tmp, path);
  syncDir(dir);
  return path;
}

/** A stored snapshot, open for reading its image in slices. */
export class SnapshotFile {
  private constructor(
    readonly path: string,
    readonly metadata: SnapshotMetadata,
    readonly imageBytes: number,
    private readonly fd: number,
  ) {}

  /** Opens and checks a snapshot file's trailer (the image frames are checked as they are read). */
  static open(path: string): SnapshotFile {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < TRAILER) throw new LogCorruptError(`${path}: snapshot file is truncated (${size} bytes)`);
      const tail = readAt(fd, size - TRAILER, TRAILER);
      if (!tail.subarray(4).equals(MAGIC))
        throw new LogCorruptError(`${path}: not a whole kvkit snapshot file`);
      const metaBytes = tail.readUInt32BE(0);
      if (metaBytes + TRAILER > size) throw new LogCorruptError(`${path}: snapshot trailer is damaged`);
      const meta = decodeMeta<StoredMeta>(
        readAt(fd, size - TRAILER - metaBytes, metaBytes),
        `${path}: trailer`,
      );
      if (meta.imageBytes !== size - TRAILER - metaBytes) {
        throw new LogCorruptError(
          `${path}: snapshot holds ${size - TRAILER - metaBytes} image bytes, its trailer says ${meta.imageBytes}`,
        );
      }
      const { index, term, confState } = meta;
      return new SnapshotFile(path, { index, term, confState }, meta.imageBytes, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Bytes `[begin, end)` of the image. */
  read(begin: number, end: number): Buffer {
    const from = Math.max(0, Math.min(begin, this.imageBytes));
    const to = Math.max(from, Math.min(end, this.imageBytes));
    return readAt(this.fd, from, to - from);
  }

  /** The image as a SnapshotData read on demand (a follower's transfer reads one chunk at a time). */
  data(): SnapshotData {
    return { byteLength: this.imageBytes, subarray: (begin, end) => this.read(begin, end) };
  }

  /** The image in slices, for restoring it. */
  *slices(): Generator<Buffer> {
    for (let at = 0; at < this.imageBytes; at += SLICE_BYTES) yield this.read(at, at + SLICE_BYTES);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw new LogCorruptError(`snapshot read past the end at ${position + done}`);
    done += n;
  }
  return out;
}

/** Removes snapshot files older than `keepIndex` (and, at start, `.tmp` leftovers of a crash). */
export function removeOldSnapshots(dir: string, keepIndex: number, leftovers = false): void {
  for (const name of readdirSync(dir)) {
    const index = parseSnapshotName(name);
    const tmp = leftovers && /^snap-[0-9a-f]{16}\.snap\.tmp$/.test(name);
    if ((index !== null && index < keepIndex) || tmp) rmSync(join(dir, name), { force: true });
  }
}
