import { ByteReader, ByteWriter, WireError } from './bytes.js';
import { MAX_ADDR_BYTES, MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_VALUE_BYTES } from './limits.js';

/**
 * The UDP messages: SWIM's probes (memberlist ping / indirect ping / ack / nack), membership
 * updates (alive / suspect / dead, with incarnation numbers), network attachments and table
 * events (NetworkDB). A packet is a version byte followed by self-delimiting messages; a
 * packet that does not decode completely is dropped whole.
 */
export const PACKET_VERSION = 1;

export type MemberStateName = 'alive' | 'suspect' | 'dead' | 'left';

export interface PingMsg {
  type: 'ping';
  seq: number;
  /** Who the sender means to reach: a ping for another member (a reused address) is not answered. */
  target: string;
  source: string;
  sourceAddr: string;
}
export interface IndirectPingMsg {
  type: 'indirect-ping';
  seq: number;
  target: string;
  targetAddr: string;
  /** Lifeguard: answer with a nack if the target did not answer, so the asker learns its own health. */
  nack: boolean;
  source: string;
  sourceAddr: string;
}
export interface AckMsg {
  type: 'ack';
  seq: number;
}
export interface NackMsg {
  type: 'nack';
  seq: number;
}
export interface AliveMsg {
  type: 'alive';
  name: string;
  addr: string;
  incarnation: number;
}
export interface SuspectMsg {
  type: 'suspect';
  name: string;
  incarnation: number;
  from: string;
}
/** `from === name`: the member left on purpose. */
export interface DeadMsg {
  type: 'dead';
  name: string;
  incarnation: number;
  from: string;
}
/** A member joined (or left) a network, at a time of the attachment Lamport clock. */
export interface NetworkMsg {
  type: 'network';
  node: string;
  network: string;
  ltime: number;
  leaving: boolean;
}
/** One table record as it travels: by gossip (a table event) or in a sync page. */
export interface TableRecord {
  table: string;
  key: string;
  owner: string;
  ltime: number;
  deleted: boolean;
  /** Tombstones: the lifetime left, in ms (carried, never restarted: libnetwork#1944). */
  residualMs: number;
  value: Uint8Array | null;
}
export interface TableMsg extends TableRecord {
  type: 'table';
  network: string;
}

export type MembershipMsg = AliveMsg | SuspectMsg | DeadMsg | NetworkMsg;
export type PacketMsg = PingMsg | IndirectPingMsg | AckMsg | NackMsg | MembershipMsg | TableMsg;

const T_PING = 1;
const T_INDIRECT = 2;
const T_ACK = 3;
const T_NACK = 4;
const T_ALIVE = 5;
const T_SUSPECT = 6;
const T_DEAD = 7;
const T_NETWORK = 8;
const T_TABLE = 9;

const MAX_U32 = 0xffff_ffff;
/** Tombstone lifetimes beyond this are refused (a timer must stay below 2^31 ms). */
export const MAX_RESIDUAL_MS = 2 ** 31 - 1;

export function writeRecord(w: ByteWriter, r: TableRecord): void {
  w.str(r.table)
    .str(r.key)
    .str(r.owner)
    .varint(r.ltime)
    .u8(r.deleted ? 1 : 0);
  if (r.deleted) w.varint(Math.max(0, Math.min(MAX_RESIDUAL_MS, Math.floor(r.residualMs))));
  else w.bytes(r.value ?? new Uint8Array(0));
}

export function readRecord(r: ByteReader): TableRecord {
  const table = r.str(MAX_NAME_BYTES);
  const key = r.str(MAX_KEY_BYTES);
  const owner = r.str(MAX_NAME_BYTES);
  const ltime = r.varint();
  const deleted = r.bool();
  if (deleted)
    return { table, key, owner, ltime, deleted, residualMs: r.varint(MAX_RESIDUAL_MS), value: null };
  return { table, key, owner, ltime, deleted, residualMs: 0, value: r.bytes(MAX_VALUE_BYTES) };
}

const scratch = new ByteWriter(2048);

/** Encodes one message (without the packet's version byte). */
export function encodeMessage(msg: PacketMsg): Uint8Array {
  const w = scratch.reset();
  switch (msg.type) {
    case 'ping':
      w.u8(T_PING).varint(msg.seq).str(msg.target).str(msg.source).str(msg.sourceAddr);
      break;
    case 'indirect-ping':
      w.u8(T_INDIRECT)
        .varint(msg.seq)
        .str(msg.target)
        .str(msg.targetAddr)
        .u8(msg.nack ? 1 : 0);
      w.str(msg.source).str(msg.sourceAddr);
      break;
    case 'ack':
      w.u8(T_ACK).varint(msg.seq);
      break;
    case 'nack':
      w.u8(T_NACK).varint(msg.seq);
      break;
    case 'alive':
      w.u8(T_ALIVE).str(msg.name).str(msg.addr).varint(msg.incarnation);
      break;
    case 'suspect':
      w.u8(T_SUSPECT).str(msg.name).varint(msg.incarnation).str(msg.from);
      break;
    case 'dead':
      w.u8(T_DEAD).str(msg.name).varint(msg.incarnation).str(msg.from);
      break;
    case 'network':
      w.u8(T_NETWORK)
        .str(msg.node)
        .str(msg.network)
        .varint(msg.ltime)
        .u8(msg.leaving ? 1 : 0);
      break;
    case 'table':
      w.u8(T_TABLE).str(msg.network);
      writeRecord(w, msg);
      break;
  }
  return w.finish();
}

function readMessage(r: ByteReader): PacketMsg {
  const type = r.u8();
  switch (type) {
    case T_PING:
      return {
        type: 'ping',
        seq: r.varint(MAX_U32),
        target: r.str(MAX_NAME_BYTES),
        source: r.str(MAX_NAME_BYTES),
        sourceAddr: r.str(MAX_ADDR_BYTES),
      };
    case T_INDIRECT:
      return {
        type: 'indirect-ping',
        seq: r.varint(MAX_U32),
        target: r.str(MAX_NAME_BYTES),
        targetAddr: r.str(MAX_ADDR_BYTES),
        nack: r.bool(),
        source: r.str(MAX_NAME_BYTES),
        sourceAddr: r.str(MAX_ADDR_BYTES),
      };
    case T_ACK:
      return { type: 'ack', seq: r.varint(MAX_U32) };
    case T_NACK:
      return { type: 'nack', seq: r.varint(MAX_U32) };
    case T_ALIVE:
      return {
        type: 'alive',
        name: r.str(MAX_NAME_BYTES),
        addr: r.str(MAX_ADDR_BYTES),
        incarnation: r.varint(MAX_U32),
      };
    case T_SUSPECT:
      return {
        type: 'suspect',
        name: r.str(MAX_NAME_BYTES),
        incarnation: r.varint(MAX_U32),
        from: r.str(MAX_NAME_BYTES),
      };
    case T_DEAD:
      return {
        type: 'dead',
        name: r.str(MAX_NAME_BYTES),
        incarnation: r.varint(MAX_U32),
        from: r.str(MAX_NAME_BYTES),
      };
    case T_NETWORK:
      return {
        type: 'network',
        node: r.str(MAX_NAME_BYTES),
        network: r.str(MAX_NAME_BYTES),
        ltime: r.varint(),
        leaving: r.bool(),
      };
    case T_TABLE: {
      const network = r.str(MAX_NAME_BYTES);
      return { type: 'table', network, ...readRecord(r) };
    }
    default:
      throw new WireError(`unknown message type ${type}`);
  }
}

/** Decodes a whole packet; throws WireError unless every byte belongs to a valid message. */
export function decodePacket(packet: Uint8Array): PacketMsg[] {
  const r = new ByteReader(packet);
  const version = r.u8();
  if (version !== PACKET_VERSION) throw new WireError(`unknown packet version ${version}`);
  const out: PacketMsg[] = [];
  while (!r.done) out.push(readMessage(r));
  if (out.length === 0) throw new WireError('empty packet');
  return out;
}

/**
 * Fills one packet under a hard byte budget: every `add` checks the bytes already used, so
 * a packet can never exceed the budget (moby#49939, libnetwork#2247: filling that ignored
 * the bytes used made oversized, truncated packets).
 */
export class PacketBuilder {
  private parts: Uint8Array[] = [];
  private used = 1;

  constructor(readonly budgetBytes: number) {}

  get bytesUsed(): number {
    return this.used;
  }

  get bytesLeft(): number {
    return this.budgetBytes - this.used;
  }

  get count(): number {
    return this.parts.length;
  }

  /** Adds an encoded message if it fits; returns whether it did. */
  add(encoded: Uint8Array): boolean {
    if (this.used + encoded.byteLength > this.budgetBytes) return false;
    this.parts.push(encoded);
    this.used += encoded.byteLength;
    return true;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.used);
    out[0] = PACKET_VERSION;
    let pos = 1;
    for (const part of this.parts) {
      out.set(part, pos);
      pos += part.byteLength;
    }
    return out;
  }
}

/** The largest table event possible under the limits; it must fit one packet with the version byte. */
export const TABLE_EVENT_MAX_BYTES =
  1 +
  (1 + MAX_NAME_BYTES) +
  (1 + MAX_NAME_BYTES) +
  (2 + MAX_KEY_BYTES) +
  (1 + MAX_NAME_BYTES) +
  8 +
  1 +
  (2 + MAX_VALUE_BYTES);
