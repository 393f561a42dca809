import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Entry, EntryType } from '../core/index.js';
import { LogCorruptError } from './errors.js';

/**
 * On-disk encodings. Every stored value starts with a CRC-32 of the rest, so a flipped bit,
 * a torn page or a value from somewhere else is detected on read instead of applied.
 *
 * Entry record: crc32 u32 | index f64 | term f64 | type u8 | data.
 * Meta record:  crc32 u32 | msgpack(value).
 */

const ENTRY_HEADER = 4 + 8 + 8 + 1;
const TYPE_CODES: Record<EntryType, number> = { normal: 0, confChange: 1 };
const TYPES: EntryType[] = ['normal', 'confChange'];
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeEntry(entry: Entry): Uint8Array {
  const out = Buffer.allocUnsafe(ENTRY_HEADER + entry.data.byteLength);
  out.writeDoubleBE(entry.index, 4);
  out.writeDoubleBE(entry.term, 12);
  out.writeUInt8(TYPE_CODES[entry.type], 20);
  out.set(entry.data, ENTRY_HEADER);
  out.writeUInt32BE(crc32(out.subarray(4)), 0);
  return out;
}

/** Decodes an entry record stored under `index`; throws LogCorruptError on any mismatch. */
export function decodeEntry(record: Uint8Array, index: number): Entry {
  if (record.byteLength < ENTRY_HEADER) {
    throw new LogCorruptError(
      `log entry ${index}: record is ${record.byteLength} bytes, shorter than a header`,
    );
  }
  const buf = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  const stored = buf.readUInt32BE(0);
  if (crc32(buf.subarray(4)) !== stored) throw new LogCorruptError(`log entry ${index}: checksum mismatch`);
  const storedIndex = buf.readDoubleBE(4);
  if (storedIndex !== index) {
    throw new LogCorruptError(`log entry ${index}: record carries index ${storedIndex}`);
  }
  const type = TYPES[buf.readUInt8(20)];
  if (type === undefined) throw new LogCorruptError(`log entry ${index}: unknown entry type`);
  // Copy: the record may be a view into a buffer LMDB reuses.
  return {
    index,
    term: buf.readDoubleBE(12),
    type,
    data: Uint8Array.prototype.slice.call(buf, ENTRY_HEADER),
  };
}

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
  return packr.unpack(buf.subarray(4)) as T;
}

/** CRC-32 of a blob, or continued from `previous` (snapshot images are checked against their metadata). */
export function checksum(data: Uint8Array, previous = 0): number {
  return crc32(data, previous);
}
