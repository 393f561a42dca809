import { ByteReader, ByteWriter, WireError } from './bytes.js';
import { MAX_ADDR_BYTES, MAX_NAME_BYTES } from './limits.js';
import { type MemberStateName, readRecord, type TableRecord, writeRecord } from './messages.js';

/**
 * Stream (TCP) requests and answers: one request frame, one answer frame. Push-pull carries
 * the whole membership and every attachment (memberlist's state sync, NetworkDB's node and
 * network state); table sync carries bucket digests and only the records of buckets that
 * differ (a steady-state sync is a digest, not the table); a query serves the CLI.
 */
export const STREAM_VERSION = 1;

export interface MemberRecord {
  name: string;
  addr: string;
  incarnation: number;
  state: MemberStateName;
}
export interface AttachmentRecord {
  node: string;
  network: string;
  ltime: number;
  leaving: boolean;
}

export type QueryWhat = 'members' | 'networks' | 'entries';

export type StreamRequest =
  | {
      kind: 'push-pull';
      join: boolean;
      from: string;
      members: MemberRecord[];
      attachments: AttachmentRecord[];
    }
  | { kind: 'sync'; network: string; from: string; bucketCount: number; hashes: Uint32Array }
  | { kind: 'sync-push'; network: string; from: string; records: TableRecord[] }
  | { kind: 'query'; what: QueryWhat; network: string | null; table: string | null }
  /** memberlist's TCP fallback ping: asked when a direct UDP probe went unanswered. */
  | { kind: 'ping'; target: string; from: string };

export type SyncStatus = 'ok' | 'not-member' | 'rehash';

export type StreamAnswer =
  | { kind: 'push-pull'; from: string; members: MemberRecord[]; attachments: AttachmentRecord[] }
  | {
      kind: 'sync';
      status: SyncStatus;
      /** With `rehash`: the bucket count to use (the answerer holds more records) and its hashes. */
      bucketCount: number;
      hashes: Uint32Array;
      /** Buckets whose records are all in `records`. */
      complete: number[];
      /** Buckets that differ but did not fit this page. */
      more: boolean;
      records: TableRecord[];
    }
  | { kind: 'sync-push'; status: SyncStatus }
  | { kind: 'query'; json: string }
  /** Sent only by the member the ping named. */
  | { kind: 'ping'; name: string };

const STATES: MemberStateName[] = ['alive', 'suspect', 'dead', 'left'];
const K_PUSH_PULL = 1;
const K_SYNC = 2;
const K_SYNC_PUSH = 3;
const K_QUERY = 4;
const K_PING = 5;
const WHATS: QueryWhat[] = ['members', 'networks', 'entries'];
const SYNC_STATUSES: SyncStatus[] = ['ok', 'not-member', 'rehash'];
/** Bucket counts are powers of two up to this (4 bytes each in a digest). */
export const MAX_BUCKETS = 4096;

function writeMembers(w: ByteWriter, members: MemberRecord[], attachments: AttachmentRecord[]): void {
  w.varint(members.length);
  for (const m of members) w.str(m.name).str(m.addr).varint(m.incarnation).u8(STATES.indexOf(m.state));
  w.varint(attachments.length);
  for (const a of attachments)
    w.str(a.node)
      .str(a.network)
      .varint(a.ltime)
      .u8(a.leaving ? 1 : 0);
}

function readMembers(r: ByteReader): { members: MemberRecord[]; attachments: AttachmentRecord[] } {
  const members: MemberRecord[] = [];
  const count = r.varint(r.remaining);
  for (let i = 0; i < count; i++) {
    const name = r.str(MAX_NAME_BYTES);
    const addr = r.str(MAX_ADDR_BYTES);
    const incarnation = r.varint(0xffff_ffff);
    const state = STATES[r.u8()];
    if (state === undefined) throw new WireError('bad member state');
    members.push({ name, addr, incarnation, state });
  }
  const attachments: AttachmentRecord[] = [];
  const n = r.varint(r.remaining);
  for (let i = 0; i < n; i++) {
    attachments.push({
      node: r.str(MAX_NAME_BYTES),
      network: r.str(MAX_NAME_BYTES),
      ltime: r.varint(),
      leaving: r.bool(),
    });
  }
  return { members, attachments };
}

function writeRecords(w: ByteWriter, records: TableRecord[]): void {
  w.varint(records.length);
  for (const rec of records) writeRecord(w, rec);
}

function readRecords(r: ByteReader): TableRecord[] {
  const count = r.varint(r.remaining);
  const out: TableRecord[] = [];
  for (let i = 0; i < count; i++) out.push(readRecord(r));
  return out;
}

function writeHashes(w: ByteWriter, bucketCount: number, hashes: Uint32Array): void {
  w.varint(bucketCount);
  w.varint(hashes.length);
  for (const h of hashes) w.u32(h);
}

function readHashes(r: ByteReader): { bucketCount: number; hashes: Uint32Array } {
  const bucketCount = r.varint(MAX_BUCKETS);
  if (bucketCount < 1 || (bucketCount & (bucketCount - 1)) !== 0)
    throw new WireError('bucket count must be a power of two');
  const n = r.varint(MAX_BUCKETS);
  if (n !== 0 && n !== bucketCount) throw new WireError('digest length differs from its bucket count');
  const hashes = new Uint32Array(n);
  for (let i = 0; i < n; i++) hashes[i] = r.u32();
  return { bucketCount, hashes };
}

function finish(r: ByteReader): void {
  if (!r.done) throw new WireError('trailing bytes in frame');
}

export function encodeRequest(req: StreamRequest): Uint8Array {
  const w = new ByteWriter(1024);
  w.u8(STREAM_VERSION);
  switch (req.kind) {
    case 'push-pull':
      w.u8(K_PUSH_PULL)
        .u8(req.join ? 1 : 0)
        .str(req.from);
      writeMembers(w, req.members, req.attachments);
      break;
    case 'sync':
      w.u8(K_SYNC).str(req.network).str(req.from);
      writeHashes(w, req.bucketCount, req.hashes);
      break;
    case 'sync-push':
      w.u8(K_SYNC_PUSH).str(req.network).str(req.from);
      writeRecords(w, req.records);
      break;
    case 'query':
      w.u8(K_QUERY).u8(WHATS.indexOf(req.what));
      for (const name of [req.network, req.table]) {
        if (name === null) w.u8(0);
        else w.u8(1).str(name);
      }
      break;
    case 'ping':
      w.u8(K_PING).str(req.target).str(req.from);
      break;
  }
  return w.finish();
}

export function decodeRequest(frame: Uint8Array): StreamRequest {
  const r = new ByteReader(frame);
  if (r.u8() !== STREAM_VERSION) throw new WireError('unknown stream version');
  const kind = r.u8();
  let req: StreamRequest;
  switch (kind) {
    case K_PUSH_PULL: {
      const join = r.bool();
      const from = r.str(MAX_NAME_BYTES);
      req = { kind: 'push-pull', join, from, ...readMembers(r) };
      break;
    }
    case K_SYNC: {
      const network = r.str(MAX_NAME_BYTES);
      const from = r.str(MAX_NAME_BYTES);
      const { bucketCount, hashes } = readHashes(r);
      if (hashes.length !== bucketCount) throw new WireError('sync request without a full digest');
      req = { kind: 'sync', network, from, bucketCount, hashes };
      break;
    }
    case K_SYNC_PUSH: {
      const network = r.str(MAX_NAME_BYTES);
      const from = r.str(MAX_NAME_BYTES);
      req = { kind: 'sync-push', network, from, records: readRecords(r) };
      break;
    }
    case K_QUERY: {
      const what = WHATS[r.u8()];
      if (what === undefined) throw new WireError('unknown query');
      const network = r.bool() ? r.str(MAX_NAME_BYTES) : null;
      const table = r.bool() ? r.str(MAX_NAME_BYTES) : null;
      req = { kind: 'query', what, network, table };
      break;
    }
    case K_PING: {
      const target = r.str(MAX_NAME_BYTES);
      const from = r.str(MAX_NAME_BYTES);
      req = { kind: 'ping', target, from };
      break;
    }
    default:
      throw new WireError(`unknown stream request ${kind}`);
  }
  finish(r);
  return req;
}

export function encodeAnswer(answer: StreamAnswer): Uint8Array {
  const w = new ByteWriter(1024);
  w.u8(STREAM_VERSION);
  switch (answer.kind) {
    case 'push-pull':
      w.u8(K_PUSH_PULL).str(answer.from);
      writeMembers(w, answer.members, answer.attachments);
      break;
    case 'sync':
      w.u8(K_SYNC).u8(SYNC_STATUSES.indexOf(answer.status));
      writeHashes(w, answer.bucketCount, answer.hashes);
      w.varint(answer.complete.length);
      for (const b of answer.complete) w.varint(b);
      w.u8(answer.more ? 1 : 0);
      writeRecords(w, answer.records);
      break;
    case 'sync-push':
      w.u8(K_SYNC_PUSH).u8(SYNC_STATUSES.indexOf(answer.status));
      break;
    case 'query': {
      w.u8(K_QUERY);
      w.bytes(new TextEncoder().encode(answer.json));
      break;
    }
    case 'ping':
      w.u8(K_PING).str(answer.name);
      break;
  }
  return w.finish();
}

export function decodeAnswer(frame: Uint8Array): StreamAnswer {
  const r = new ByteReader(frame);
  if (r.u8() !== STREAM_VERSION) throw new WireError('unknown stream version');
  const kind = r.u8();
  let answer: StreamAnswer;
  switch (kind) {
    case K_PUSH_PULL: {
      const from = r.str(MAX_NAME_BYTES);
      answer = { kind: 'push-pull', from, ...readMembers(r) };
      break;
    }
    case K_SYNC: {
      const status = SYNC_STATUSES[r.u8()];
      if (status === undefined) throw new WireError('bad sync status');
      const { bucketCount, hashes } = readHashes(r);
      const n = r.varint(MAX_BUCKETS);
      const complete: number[] = [];
      for (let i = 0; i < n; i++) {
        const b = r.varint(MAX_BUCKETS - 1);
        if (b >= bucketCount) throw new WireError('bucket out of range');
        complete.push(b);
      }
      const more = r.bool();
      answer = { kind: 'sync', status, bucketCount, hashes, complete, more, records: readRecords(r) };
      break;
    }
    case K_SYNC_PUSH: {
      const status = SYNC_STATUSES[r.u8()];
      if (status === undefined) throw new WireError('bad sync status');
      answer = { kind: 'sync-push', status };
      break;
    }
    case K_QUERY: {
      const bytes = r.bytes(r.remaining);
      answer = { kind: 'query', json: new TextDecoder().decode(bytes) };
      break;
    }
    case K_PING:
      answer = { kind: 'ping', name: r.str(MAX_NAME_BYTES) };
      break;
    default:
      throw new WireError(`unknown stream answer ${kind}`);
  }
  finish(r);
  return answer;
}
