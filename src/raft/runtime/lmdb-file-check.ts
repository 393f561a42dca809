import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { LogCorruptError } from './errors.js';

/**
 * LMDB memory-maps its file: a file cut short (a bad copy, a full disk, a truncated backup)
 * makes the first read past its end kill the process with SIGBUS, long after start. So
 * before opening, read the two meta pages and check the file holds every page the newest
 * valid one refers to.
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

export function checkLmdbFile(path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a new data dir
    throw err;
  }
  const first = readMeta(path, 0);
  if (first === null) {
    throw new LogCorruptError(
      `${path}: not a valid LMDB file (bad header; ${size} bytes). Refusing to open it.`,
    );
  }
  const second = size >= first.pageSize + HEADER_BYTES ? readMeta(path, first.pageSize) : null;
  const newest = second !== null && second.txnId > first.txnId ? second : first;
  const needed = (Number(newest.lastPage) + 1) * newest.pageSize;
  if (size < needed) {
    throw new LogCorruptError(
      `${path} is truncated: ${size} bytes, but its header refers to ${needed} bytes ` +
        `(${Number(newest.lastPage) + 1} pages of ${newest.pageSize}). Refusing to open it; nothing was changed.`,
    );
  }
}

function readMeta(path: string, offset: number): MetaPage | null {
  const buf = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, buf, 0, HEADER_BYTES, offset);
  } finally {
    closeSync(fd);
  }
  if (read < HEADER_BYTES || buf.readUInt32LE(24) !== MAGIC) return null;
  const pageSize = buf.readUInt32LE(48);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  return { pageSize, lastPage: buf.readBigUInt64LE(144), txnId: buf.readBigUInt64LE(152) };
}
