import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { DataCorruptError } from '../store/errors.js';

/**
 * LMDB memory-maps its file: a file cut short (a bad copy, a full disk, a truncated backup)
 * makes the first read past its end kill the process with SIGBUS, and a file of garbage can
 * send it to a wild page (SIGSEGV), long after start. So before LMDB opens a file, read its
 * two meta pages and check the file holds every page the newest valid one refers to. Used by
 * the local backend (`kvkit.mdb`) and the Raft log (`raft.mdb`).
 *
 * Layout (lmdb-js 3.x, 64-bit): each meta page has a 24-byte page header, then the meta
 * record: magic u32 at 24, version u32 at 28, the free-DB record at 48 (its first u32 is
 * the page size), last page number u64 at 144, transaction id u64 at 152.
 */
const MAGIC = 0xbeefc0de;
const HEADER_BYTES = 160;

interface MetaPage {
  pageSize: number;
  lastPage: bigint;
  txnId: bigint;
}

/** Builds the error for a damaged file; the default is the contract's DATA_CORRUPT. */
export type DamageError = (message: string) => Error;

/**
 * Throws `damaged(message naming the file)` when `path` is not a whole LMDB file: not a
 * regular file (a directory, a FIFO), shorter than its header, a foreign header, or shorter
 * than the pages its newest meta page refers to. A missing file passes (LMDB creates it).
 */
export function checkLmdbFile(
  path: string,
  damaged: DamageError = (message) => new DataCorruptError(message),
): void {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) {
      throw damaged(
        `${path} is not a regular file (${stat.isDirectory() ? 'a directory' : 'a special file'}). Refusing to open it.`,
      );
    }
    size = stat.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a new data dir
    throw err;
  }
  const fd = openSync(path, 'r');
  try {
    const first = readMeta(fd, 0);
    if (first === null) {
      throw damaged(`${path}: not a valid LMDB file (bad header; ${size} bytes). Refusing to open it.`);
    }
    const second = size >= first.pageSize + HEADER_BYTES ? readMeta(fd, first.pageSize) : null;
    const newest = second !== null && second.txnId > first.txnId ? second : first;
    const pages = newest.lastPage + 1n;
    const needed = pages * BigInt(newest.pageSize);
    if (BigInt(size) < needed) {
      throw damaged(
        `${path} is truncated: ${size} bytes, but its header refers to ${needed} bytes ` +
          `(${pages} pages of ${newest.pageSize}). Refusing to open it; nothing was changed.`,
      );
    }
  } finally {
    closeSync(fd);
  }
}

function readMeta(fd: number, offset: number): MetaPage | null {
  const buf = Buffer.alloc(HEADER_BYTES);
  const read = readSync(fd, buf, 0, HEADER_BYTES, offset);
  if (read < HEADER_BYTES || buf.readUInt32LE(24) !== MAGIC) return null;
  const pageSize = buf.readUInt32LE(48);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  return { pageSize, lastPage: buf.readBigUInt64LE(144), txnId: buf.readBigUInt64LE(152) };
}
