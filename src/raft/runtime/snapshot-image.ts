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

/**
 * The image as two parts, header block and state machine image, whose concatenation is the
 * snapshot's data: the (possibly very large) state machine image is never copied.
 */
export function encodeSnapshotImage(header: SnapshotHeader, image: Uint8Array): [Uint8Array, Uint8Array] {
  const head = packr.pack(header);
  const block = Buffer.allocUnsafe(8 + head.byteLength);
  MAGIC.copy(block, 0);
  block.writeUInt32BE(head.byteLength, 4);
  block.set(head, 8);
  return [block, image];
}

/** Decodes snapshot data: one blob (as received from a leader) or the parts it was stored in. */
export function decodeSnapshotImage(data: Uint8Array | Uint8Array[]): {
  header: SnapshotHeader;
  image: Uint8Array;
} {
  const parts = Array.isArray(data) ? data : [data];
  if (parts.length === 0) throw new LogCorruptError('snapshot image is empty');
  const first = Buffer.from(parts[0].buffer, parts[0].byteOffset, parts[0].byteLength);
  if (first.byteLength < 8 || !first.subarray(0, 4).equals(MAGIC)) {
    throw new LogCorruptError('snapshot image has no kvkit header');
  }
  const headLength = first.readUInt32BE(4);
  if (8 + headLength > first.byteLength) throw new LogCorruptError('snapshot image header is cut short');
  const header = packr.unpack(first.subarray(8, 8 + headLength)) as SnapshotHeader;
  const rest = [first.subarray(8 + headLength), ...parts.slice(1)].filter((p) => p.byteLength > 0);
  const image = rest.length === 1 ? rest[0] : Buffer.concat(rest);
  return { header, image };
}
