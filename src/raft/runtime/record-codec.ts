import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Entry, EntryType, HardState } from '../core/index.js';
import { LogCorruptError } from './errors.js';

/**
 * On-disk records. Every record is `u32 body length | u32 CRC-32 of the body | body`, so a
 * flipped bit, a torn write or a record from somewhere else is detected on read instead of
 * applied. A zero length (with a zero CRC) is where the written part of a preallocated,
 * zero-filled segment ends.
 *
 * Bodies start with a type byte:
 * - ENTRY:   index f64 | term f64 | entry type u8 | data
 * - HARD:    term f64 | commit f64 | vote length u16 (0xffff: none) | vote (UTF-8)
 * - COMPACT: index f64 | term f64  — entries at or below `index` are no longer needed
 * - RESET:   index f64 | term f64  — a snapshot replaced the whole log: it ends at `index`
 * - TRUNCATE: index f64 | 0 f64    — a new leader replaces the entries from `index` on
 */

export const RECORD_HEADER = 8;

export const RecordType = { entry: 1, hard: 2, compact: 3, reset: 4, truncate: 5 } as const;

type MarkType = 'compact' | 'reset' | 'truncate';

const ENTRY_BODY_HEADER = 1 + 8 + 8 + 1;
const TYPE_CODES: Record<EntryType, number> = { normal: 0, confChange: 1 };
const TYPES: EntryType[] = ['normal', 'confChange'];
const NO_VOTE = 0xffff;
const packr = new Packr({ useRecords: false, moreTypes: false });

export type LogRecord =
  | { type: 'entry'; entry: Entry }
  | { type: 'hard'; hardState: HardState }
  | { type: MarkType; index: number; term: number };

/** The bytes an entry's record takes on disk. */
export function entryRecordSize(entry: Entry): number {
  return RECORD_HEADER + ENTRY_BODY_HEADER + entry.data.byteLength;
}

/** Writes an entry's record into `out` at `at`; returns the offset after it. */
export function writeEntryRecord(out: Buffer, at: number, entry: Entry): number {
  const body = at + RECORD_HEADER;
  out[body] = RecordType.entry;
  out.writeDoubleBE(entry.index, body + 1);
  out.writeDoubleBE(entry.term, body + 9);
  out[body + 17] = TYPE_CODES[entry.type];
  out.set(entry.data, body + ENTRY_BODY_HEADER);
  return seal(out, at, ENTRY_BODY_HEADER + entry.data.byteLength);
}

export function encodeHardStateRecord(hard: HardState): Buffer {
  const vote = hard.vote === null ? null : Buffer.from(hard.vote, 'utf8');
  const out = Buffer.allocUnsafe(RECORD_HEADER + 1 + 16 + 2 + (vote?.byteLength ?? 0));
  const body = RECORD_HEADER;
  out[body] = RecordType.hard;
  out.writeDoubleBE(hard.term, body + 1);
  out.writeDoubleBE(hard.commit, body + 9);
  out.writeUInt16BE(vote === null ? NO_VOTE : vote.byteLength, body + 17);
  if (vote) out.set(vote, body + 19);
  seal(out, 0, out.byteLength - RECORD_HEADER);
  return out;
}

export function encodeMarkRecord(type: MarkType, index: number, term: number): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER + 17);
  out[RECORD_HEADER] = RecordType[type];
  out.writeDoubleBE(index, RECORD_HEADER + 1);
  out.writeDoubleBE(term, RECORD_HEADER + 9);
  seal(out, 0, 17);
  return out;
}

function seal(out: Buffer, at: number, bodyLength: number): number {
  out.writeUInt32BE(bodyLength, at);
  out.writeUInt32BE(crc32(out.subarray(at + RECORD_HEADER, at + RECORD_HEADER + bodyLength)), at + 4);
  return at + RECORD_HEADER + bodyLength;
}

/** What is at an offset of a segment: a record, the end of the written part, or damage. */
export type RecordRead =
  | { kind: 'record'; record: LogRecord; next: number }
  | { kind: 'end' }
  /** `claimedEnd`: where the record would end, as far as its header says (for torn-write checks). */
  | { kind: 'bad'; why: string; claimedEnd: number };

/**
 * Reads the record at `at` in `buf` (data up to `limit`). Never throws on bad bytes. An
 * entry's data is a copy, or with `view` a view into `buf` (scanning a log at start).
 */
export function readRecord(buf: Buffer, at: number, limit: number, view = false): RecordRead {
  if (at + RECORD_HEADER > limit) {
    return allZero(buf, at, limit)
      ? { kind: 'end' }
      : { kind: 'bad', why: 'record header cut short', claimedEnd: limit + 1 };
  }
  const length = buf.readUInt32BE(at);
  const crc = buf.readUInt32BE(at + 4);
  if (length === 0 && crc === 0) return { kind: 'end' };
  const end = at + RECORD_HEADER + length;
  if (length === 0 || end > limit)
    return { kind: 'bad', why: 'record runs past the end of its segment', claimedEnd: end };
  const body = buf.subarray(at + RECORD_HEADER, end);
  if (crc32(body) !== crc) return { kind: 'bad', why: 'checksum mismatch', claimedEnd: end };
  const record = decodeBody(body, view);
  if (typeof record === 'string') return { kind: 'bad', why: record, claimedEnd: end };
  return { kind: 'record', record, next: end };
}

function decodeBody(body: Buffer, view: boolean): LogRecord | string {
  switch (body[0]) {
    case RecordType.entry: {
      if (body.byteLength < ENTRY_BODY_HEADER) return 'entry record shorter than its header';
      const type = TYPES[body[17]];
      if (type === undefined) return 'unknown entry type';
      // Copy: the entry outlives the read buffer (and must not pin a whole segment chunk).
      const data = view
        ? body.subarray(ENTRY_BODY_HEADER)
        : (Uint8Array.prototype.slice.call(body, ENTRY_BODY_HEADER) as Uint8Array);
      return {
        type: 'entry',
        entry: { index: body.readDoubleBE(1), term: body.readDoubleBE(9), type, data },
      };
    }
    case RecordType.hard: {
      if (body.byteLength < 19) return 'hard state record too short';
      const voteLength = body.readUInt16BE(17);
      const vote = voteLength === NO_VOTE ? null : body.toString('utf8', 19, 19 + voteLength);
      return { type: 'hard', hardState: { term: body.readDoubleBE(1), commit: body.readDoubleBE(9), vote } };
    }
    case RecordType.compact:
    case RecordType.reset:
    case RecordType.truncate:
      if (body.byteLength < 17) return 'mark record too short';
      return {
        type:
          body[0] === RecordType.compact ? 'compact' : body[0] === RecordType.reset ? 'reset' : 'truncate',
        index: body.readDoubleBE(1),
        term: body.readDoubleBE(9),
      };
    default:
      return `unknown record type ${body[0]}`;
  }
}

/** Whether `buf[from, to)` holds only zero bytes. */
export function allZero(buf: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** A small self-checking file body: `u32 CRC-32 | msgpack(value)` (identity, snapshot headers). */
export function encodeMeta(value: unknown): Uint8Array {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(4 + body.byteLength);
  out.set(body, 4);
  out.writeUInt32BE(crc32(body), 0);
  return out;
}

export function decodeMeta<T>(record: Uint8Array, what: string): T {
  const buf = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (buf.byteLength < 4 || crc32(buf.subarray(4)) !== buf.readUInt32BE(0)) {
    throw new LogCorruptError(`${what}: checksum mismatch`);
  }
  try {
    return packr.unpack(buf.subarray(4)) as T;
  } catch (err) {
    throw new LogCorruptError(`${what}: undecodable`, { cause: err });
  }
}

/** CRC-32 of a blob, or continued from `previous`. */
export function checksum(data: Uint8Array, previous = 0): number {
  return crc32(data, previous);
}
