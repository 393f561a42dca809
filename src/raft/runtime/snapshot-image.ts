import { Packr } from 'msgpackr';
import { LogCorruptError } from './errors.js';
import type { MemberAddress } from './member-book.js';

/**
 * A runtime snapshot: the replicated address book next to the state machine's own image.
 * Layout: magic "KRS1" | u32 header length | msgpack header | state machine image.
 */
const MAGIC = Buffer.from('KRS1');
const packr = new Packr({ useRecords: false, moreTypes: false });

export interface SnapshotHeader {
  members: Record<string, MemberAddress>;
}

export function encodeSnapshotImage(header: SnapshotHeader, image: Uint8Array): Uint8Array {
  const head = packr.pack(header);
  const out = Buffer.allocUnsafe(8 + head.byteLength + image.byteLength);
  MAGIC.copy(out, 0);
  out.writeUInt32BE(head.byteLength, 4);
  out.set(head, 8);
  out.set(image, 8 + head.byteLength);
  return out;
}

export function decodeSnapshotImage(data: Uint8Array): { header: SnapshotHeader; image: Uint8Array } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.byteLength < 8 || !buf.subarray(0, 4).equals(MAGIC)) {
    throw new LogCorruptError('snapshot image has no kvkit header');
  }
  const headLength = buf.readUInt32BE(4);
  if (8 + headLength > buf.byteLength) throw new LogCorruptError('snapshot image header is cut short');
  const header = packr.unpack(buf.subarray(8, 8 + headLength)) as SnapshotHeader;
  return { header, image: buf.subarray(8 + headLength) };
}
