import type { KVPair } from '../../store/types.js';
import type { ConsulEntry, TxnOp } from './connection.js';

/**
 * Consul skips a write identical to the entry it replaces (same value, flags and session) and
 * keeps its ModifyIndex; the contract counts every write as a change. So each write carries a
 * fresh stamp in the entry's Flags (opaque to Consul, unused by kvkit otherwise).
 */
const STAMP_LIMIT = 2 ** 32;
let writeStamp = Math.floor(Math.random() * STAMP_LIMIT);
/** A fresh Flags value for one write (also how a plain PUT's own write is recognised when read back). */
export function nextStamp(): number {
  writeStamp = (writeStamp + 1) % STAMP_LIMIT;
  return writeStamp;
}

/**
 * Flags of a write a session holds (a TTL write, a lock): HELD_TAG + a fresh stamp. Sessions
 * *release* the keys they hold when they end (behavior `release`), so such an entry without a
 * session is one whose session ended: absent for kvkit, and deleted by the store that sees it
 * (ExpirySweeper). A later plain write replaces the Flags with a plain stamp while Consul keeps
 * the session on the key; when that session ends, the key is released with the plain write's
 * value, which stays. That is why a plain `PUT /v1/kv/k` can take a key a session holds
 * (docs/backends/consul.md, *Which endpoint a write takes*). Below long-ttl.ts's DEADLINE_TAG
 * (2^52); above kvkit's plain stamps (below 2^32).
 */
const HELD_TAG = 2 ** 51;
/** Flags for a write that a session acquires in the same step. */
export function heldStamp(): number {
  return HELD_TAG + nextStamp();
}

/** True for an entry a session wrote and no longer holds: its TTL or lock has ended. */
export function isReleased(entry: ConsulEntry): boolean {
  return !entry.Session && entry.Flags >= HELD_TAG && entry.Flags < HELD_TAG + STAMP_LIMIT;
}

/** `/v1/txn` KV operations. Values travel base64-encoded in the JSON body. */
export const kvOp = {
  /**
   * Writes the value; keeps whatever session holds the key (see ConsulStore on why that matters).
   * `flags`: a fresh stamp unless given (a long TTL's deadline, see long-ttl.ts).
   */
  set: (key: string, value: Uint8Array, flags = nextStamp()): TxnOp => ({
    KV: { Verb: 'set', Key: key, Value: base64(value), Flags: flags },
  }),
  /** Writes only if the key's ModifyIndex is `index` (0: only if absent). */
  cas: (key: string, value: Uint8Array, index: number): TxnOp => ({
    KV: { Verb: 'cas', Key: key, Value: base64(value), Index: index, Flags: nextStamp() },
  }),
  /**
   * Writes and acquires the key for `session` (fails while another session holds it), with
   * held Flags (heldStamp): once the session ends and releases it, readers see the key absent.
   */
  lock: (key: string, value: Uint8Array, session: string): TxnOp => ({
    KV: { Verb: 'lock', Key: key, Value: base64(value), Session: session, Flags: heldStamp() },
  }),
  delete: (key: string): TxnOp => ({ KV: { Verb: 'delete', Key: key } }),
  deleteTree: (dir: string): TxnOp => ({ KV: { Verb: 'delete-tree', Key: dir } }),
  checkIndex: (key: string, index: number): TxnOp => ({
    KV: { Verb: 'check-index', Key: key, Index: index },
  }),
  checkNotExists: (key: string): TxnOp => ({ KV: { Verb: 'check-not-exists', Key: key } }),
  get: (key: string): TxnOp => ({ KV: { Verb: 'get', Key: key } }),
  getTree: (dir: string): TxnOp => ({ KV: { Verb: 'get-tree', Key: dir } }),
};

/** A Consul entry as a pair: `lastIndex` is the ModifyIndex; a null value is the empty value. */
export function toPair(entry: ConsulEntry, value?: Uint8Array): KVPair {
  return { key: entry.Key, value: value ?? decodeValue(entry.Value), lastIndex: entry.ModifyIndex };
}

function decodeValue(value: ConsulEntry['Value']): Uint8Array {
  if (value === null || value === undefined) return new Uint8Array();
  const bytes = Buffer.from(value, 'base64');
  // A plain Uint8Array over the same memory (no copy): callers get bytes, not a Buffer.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function base64(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}
