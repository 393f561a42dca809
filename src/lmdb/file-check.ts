import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { DataCorruptError } from '../store/errors.js';

/**
 * LMDB memory-maps its file: a file cut short (a bad copy, a full disk, a truncated backup)
 * makes the first read past its end kill the process with SIGBUS, and a damaged header or
 * root page sends it to a wild page (SIGSEGV), long after start. So before LMDB opens a
 * file, read its two meta pages (both must be valid: LMDB writes both when it creates a
 * file), check the file holds every page the newest one refers to, and that its two root
 * pages are B-tree pages where it says. Used by the local backend (`kvkit.mdb`) and the
 * Raft log (`raft.mdb`). Damage deeper in the tree is not looked for (that is a full scan).
 *
 * Layout (lmdb-js 3.x, 64-bit): each page starts with its page number u64 at 0 and its
 * flags u16 at 18 (24-byte header). A meta page then holds: magic u32 at 24, the free-DB
 * record at 48 (its first u32 is the page size, its root page u64 at 88), the main-DB
 * record at 96 (root page u64 at 136), the last page number u64 at 144, the transaction
 * id u64 at 152.
 */
const MAGIC = 0xbeefc0de;
const HEADER_BYTES = 160;
const NO_PAGE = 0xffffffffffffffffn;
/** P_BRANCH | P_LEAF: what a root page is. */
const TREE_PAGE_FLAGS = 0x01 | 0x02;
/** Another process may commit while we read: re-read until two reads of the metas agree. */
const MAX_ATTEMPTS = 5;

interface MetaPage {
  pageSize: number;
  lastPage: bigint;
  txnId: bigint;
  roots: bigint[];
}

/** Builds the error for a damaged file; the default is the contract's DATA_CORRUPT. */
export type DamageError = (message: string) => Error;

/**
 * Throws `damaged(message naming the file)` when `path` is not a whole LMDB file: not a
 * regular file (a directory, a FIFO), a bad or foreign header, fewer pages than its newest
 * meta page refers to, or a root page that is not one. A missing file passes (LMDB creates it).
 */
export function checkLmdbFile(
  path: string,
  damaged: DamageError = (message) => new DataCorruptError(message),
): void {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) {
      const what = stat.isDirectory() ? 'a directory' : 'a special file';
      throw damaged(`${path} is not a regular file (${what}). Refusing to open it.`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // a new data dir
    throw err;
  }
  const fd = openSync(path, 'r');
  try {
    for (let attempt = 1; ; attempt++) {
      const newest = newestMeta(fd, path, damaged);
      // The size after the metas: a writer grows the file before it commits a meta.
      const size = fstatSync(fd).size;
      const pages = newest.lastPage + 1n;
      const needed = pages * BigInt(newest.pageSize);
      if (BigInt(size) < needed) {
        throw damaged(
          `${path} is truncated: ${size} bytes, but its header refers to ${needed} bytes ` +
            `(${pages} pages of ${newest.pageSize}). Refusing to open it; nothing was changed.`,
        );
      }
      const badRoot = newest.roots.find((root) => root !== NO_PAGE && !isTreePage(fd, root, newest));
      if (badRoot === undefined) return;
      // Unless a commit since reused that page (then the metas moved on), the file is damaged.
      if (newestMeta(fd, path, damaged).txnId === newest.txnId || attempt === MAX_ATTEMPTS) {
        throw damaged(
          `${path}: page ${badRoot}, a database root, is not a B-tree page. Refusing to open it.`,
        );
      }
    }
  } finally {
    closeSync(fd);
  }
}

function newestMeta(fd: number, path: string, damaged: DamageError): MetaPage {
  const first = readMeta(fd, 0);
  const second = first && readMeta(fd, first.pageSize);
  if (first === null || second === null || second.pageSize !== first.pageSize) {
    throw damaged(`${path}: not a valid LMDB file (bad header). Refusing to open it.`);
  }
  return second.txnId > first.txnId ? second : first;
}

function readMeta(fd: number, offset: number): MetaPage | null {
  const buf = Buffer.alloc(HEADER_BYTES);
  const read = readSync(fd, buf, 0, HEADER_BYTES, offset);
  if (read < HEADER_BYTES || buf.readUInt32LE(24) !== MAGIC) return null;
  const pageSize = buf.readUInt32LE(48);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return null;
  const lastPage = buf.readBigUInt64LE(144);
  if (lastPage < 1n) return null;
  return {
    pageSize,
    lastPage,
    txnId: buf.readBigUInt64LE(152),
    roots: [buf.readBigUInt64LE(88), buf.readBigUInt64LE(136)],
  };
}

/** A page within the file whose header carries its own number and a branch or leaf flag. */
function isTreePage(fd: number, page: bigint, meta: MetaPage): boolean {
  if (page < 2n || page > meta.lastPage) return false;
  const header = Buffer.alloc(24);
  if (readSync(fd, header, 0, 24, Number(page) * meta.pageSize) < 24) return false;
  return header.readBigUInt64LE(0) === page && (header.readUInt16LE(18) & TREE_PAGE_FLAGS) !== 0;
}
