import { Packr } from 'msgpackr';

/**
 * What the data of a `normal` log entry means to the runtime:
 * - empty: the no-op a new leader appends;
 * - tag 1: a client proposal: the proposing node's token (8 bytes, random per process),
 *   a sequence number (so that node's waiter resolves when it applies the entry), and the
 *   state machine's command;
 * - tag 2: a member announcing its client address (applied to the address book).
 */
export type EntryPayload =
  | { kind: 'noop' }
  | { kind: 'proposal'; token: Uint8Array; seq: number; command: Uint8Array }
  | { kind: 'announce'; id: string; clientAddr: string | null }
  | { kind: 'unknown' };

const PROPOSAL = 1;
const ANNOUNCE = 2;
export const TOKEN_BYTES = 8;
const PROPOSAL_HEADER = 1 + TOKEN_BYTES + 8;
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeProposal(token: Uint8Array, seq: number, command: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(PROPOSAL_HEADER + command.byteLength);
  out[0] = PROPOSAL;
  out.set(token, 1);
  out.writeDoubleBE(seq, 1 + TOKEN_BYTES);
  out.set(command, PROPOSAL_HEADER);
  return out;
}

export function encodeAnnounce(id: string, clientAddr: string | null): Uint8Array {
  const body = packr.pack({ id, clientAddr });
  const out = Buffer.allocUnsafe(1 + body.byteLength);
  out[0] = ANNOUNCE;
  out.set(body, 1);
  return out;
}

export function decodePayload(data: Uint8Array): EntryPayload {
  if (data.byteLength === 0) return { kind: 'noop' };
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf[0] === PROPOSAL && buf.byteLength >= PROPOSAL_HEADER) {
    return {
      kind: 'proposal',
      token: buf.subarray(1, 1 + TOKEN_BYTES),
      seq: buf.readDoubleBE(1 + TOKEN_BYTES),
      command: buf.subarray(PROPOSAL_HEADER),
    };
  }
  if (buf[0] === ANNOUNCE) {
    try {
      const v = packr.unpack(buf.subarray(1)) as { id?: unknown; clientAddr?: unknown };
      if (typeof v.id === 'string') {
        return {
          kind: 'announce',
          id: v.id,
          clientAddr: typeof v.clientAddr === 'string' ? v.clientAddr : null,
        };
      }
    } catch {
      // falls through: an entry this version cannot read is skipped identically everywhere
    }
  }
  return { kind: 'unknown' };
}
