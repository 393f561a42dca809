/**
 * The DNS wire format through dns-packet (mafintosh), plus the two things it does not do on
 * encode: name compression (every answer's owner is the question's name, written as a pointer to
 * it — RFC 1035 §4.1.4 — so it also keeps the question's case) and label/name length checks
 * (it would write a 64-octet label that its own decoder rejects). Decoding is dns-packet's, which
 * rejects labels over 63 octets and names over 255; the header checks here decide between an
 * answer, FORMERR, NOTIMP and silence.
 */
import dnsPacket from 'dns-packet';
import { InvalidArgumentError } from '../../store/errors.js';
import { isValidName } from './names.js';

export const HEADER_BYTES = 12;
/** RFC 1035 §4.2.1: UDP replies without EDNS. */
export const PLAIN_UDP_BYTES = 512;
/** The largest EDNS size we honour (and advertise). */
export const MAX_EDNS_UDP_BYTES = 4096;
/** A TCP message has a 2-byte length (RFC 1035 §4.2.2). */
export const MAX_TCP_BYTES = 65_535;

export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;
const RA = 0x0080;
const CD = 0x0010;
/** The question's name is at offset 12: a pointer to it is 0xC00C. */
const POINTER_TO_QUESTION = Buffer.from([0xc0, HEADER_BYTES]);

export interface Query {
  /** The header's flags word as sent. */
  flags: number;
  name: string;
  type: string;
  class: string;
  /** The question section byte for byte (name in the asker's case). */
  questionBytes: Buffer;
  /** From the OPT record, when the query has one. */
  edns: { udpBytes: number; version: number } | null;
}

export type ParsedQuery =
  | { kind: 'query'; query: Query }
  /** The header parsed but the rest did not (or it asks for more than one question). */
  | { kind: 'error'; flags: number; rcode: number }
  /** Too short for a header, or a response: never answered. */
  | { kind: 'drop' };

export function parseQuery(packet: Buffer): ParsedQuery {
  if (packet.length < HEADER_BYTES) return { kind: 'drop' };
  const flags = packet.readUInt16BE(2);
  if (flags & QR) return { kind: 'drop' };
  if (flags & OPCODE_MASK) return { kind: 'error', flags, rcode: Rcode.NOTIMP };
  if (packet.readUInt16BE(4) !== 1) return { kind: 'error', flags, rcode: Rcode.FORMERR };
  const questionEnd = endOfQuestion(packet);
  if (questionEnd === null) return { kind: 'error', flags, rcode: Rcode.FORMERR };
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(packet);
  } catch {
    return { kind: 'error', flags, rcode: Rcode.FORMERR };
  }
  const question = decoded.questions?.[0];
  // Label (≤ 63) and name (≤ 255 octets) lengths were checked on the wire, by endOfQuestion and
  // dns-packet's decoder: the decoded text may be longer (it shows other bytes as UTF-8).
  if (!question) return { kind: 'error', flags, rcode: Rcode.FORMERR };
  const opts = (decoded.additionals ?? []).filter((a) => a.type === 'OPT') as dnsPacket.OptAnswer[];
  if (opts.length > 1) return { kind: 'error', flags, rcode: Rcode.FORMERR }; // RFC 6891 §6.1.1
  const opt = opts[0] as (dnsPacket.OptAnswer & { ednsVersion?: number }) | undefined;
  return {
    kind: 'query',
    query: {
      flags,
      name: question.name,
      type: String(question.type),
      class: String(question.class),
      questionBytes: packet.subarray(HEADER_BYTES, questionEnd),
      edns: opt ? { udpBytes: opt.udpPayloadSize ?? PLAIN_UDP_BYTES, version: opt.ednsVersion ?? 0 } : null,
    },
  };
}

/**
 * Where the question section ends, reading only its label lengths; null when it runs past the
 * packet or uses a compression pointer (nothing precedes a question to point at).
 */
function endOfQuestion(packet: Buffer): number | null {
  let offset = HEADER_BYTES;
  for (;;) {
    if (offset >= packet.length) return null;
    const length = packet[offset];
    if (length === 0) break;
    if (length > 63) return null;
    offset += 1 + length;
  }
  offset += 1 + 4;
  return offset <= packet.length ? offset : null;
}

/** UDP reply limit for a query: 512 bytes, or its EDNS size between 512 and 4096. */
export function udpLimit(query: Query): number {
  if (!query.edns) return PLAIN_UDP_BYTES;
  return Math.min(MAX_EDNS_UDP_BYTES, Math.max(PLAIN_UDP_BYTES, query.edns.udpBytes));
}

export interface ReplyFlags {
  rcode: number;
  authoritative?: boolean;
  recursionAvailable?: boolean;
}

/**
 * The 12-byte header of a reply to `queryFlags` (opcode, RD and CD copied) followed by the
 * question; ID 0 and TC clear (set per reply), the answer count left to the caller.
 */
export function replyHead(
  queryFlags: number,
  question: Buffer | null,
  reply: ReplyFlags,
  additionals: number,
): Buffer {
  const head = Buffer.alloc(HEADER_BYTES + (question?.length ?? 0));
  let flags = QR | (queryFlags & (OPCODE_MASK | RD | CD)) | (reply.rcode & 0xf);
  if (reply.authoritative) flags |= AA;
  if (reply.recursionAvailable) flags |= RA;
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(question ? 1 : 0, 4);
  head.writeUInt16BE(additionals, 10);
  question?.copy(head, HEADER_BYTES);
  return head;
}

/** Sets a reply's ID (copied from the query's first two bytes), answer count and TC bit. */
export function finishReply(reply: Buffer, query: Buffer, answers: number, truncated: boolean): void {
  reply[0] = query[0];
  reply[1] = query[1];
  reply.writeUInt16BE(answers, 6);
  if (truncated) reply[2] |= TC >> 8;
}

export type AnswerRecord =
  | { type: 'A' | 'AAAA'; ttl: number; data: string }
  | { type: 'PTR'; ttl: number; data: string };

/**
 * One answer record whose owner is the question's name (a 2-byte pointer); type, class, TTL
 * and data encoded by dns-packet. INVALID_ARGUMENT for a PTR target that is not a DNS name.
 */
export function encodeAnswer(record: AnswerRecord): Buffer {
  if (record.type === 'PTR' && !isValidName(record.data.replace(/\.$/, ''))) {
    throw new InvalidArgumentError(`cannot encode ${JSON.stringify(record.data)}: not a DNS name`);
  }
  const packet = dnsPacket.encode({
    type: 'response',
    answers: [{ name: '.', type: record.type, class: 'IN', ttl: record.ttl, data: record.data }],
  } as dnsPacket.Packet);
  // Skip the header and the root owner name (one zero byte): what follows is type onwards.
  return Buffer.concat([POINTER_TO_QUESTION, packet.subarray(HEADER_BYTES + 1)]);
}

/** The OPT record of a reply (RFC 6891): our UDP size, and BADVERS as extended rcode 1 when asked. */
export function encodeOpt(udpBytes: number, badVersion = false): Buffer {
  const packet = dnsPacket.encode({
    type: 'response',
    additionals: [
      {
        name: '.',
        type: 'OPT',
        udpPayloadSize: udpBytes,
        extendedRcode: badVersion ? 1 : 0,
        ednsVersion: 0,
        flags: 0,
        options: [],
      },
    ],
  } as unknown as dnsPacket.Packet);
  return Buffer.from(packet.subarray(HEADER_BYTES));
}
