import type { IKeyValue } from 'etcd3';
import type { KVPair } from '../../store/types.js';

/**
 * How kvkit keys map onto etcd's byte keys.
 *
 * Keys are stored as their UTF-8 bytes, as given (no leading slash). UTF-8 never contains the
 * byte 0xFF, so the range `[dir, dir + 0xFF)` holds exactly the kvkit keys under `dir`, and
 * kvkit's own bookkeeping (lock queues) lives under `<store prefix> 0xFF ...`, where no list,
 * watchTree or deleteTree of the store can reach it, yet still under the store prefix, so an
 * etcd role granted on that prefix covers it.
 */

/** The byte no UTF-8 text contains. */
const HIDDEN = 0xff;

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

/**
 * A pair as kvkit returns it; the value is a plain Uint8Array view, not a copy. `key` saves
 * decoding the key when the caller already has it.
 */
export function toPair(kv: IKeyValue, key?: string): KVPair {
  const v = kv.value;
  return {
    key: key ?? kv.key.toString('utf8'),
    value: new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    lastIndex: Number(kv.mod_revision),
  };
}

/** The etcd range holding the kvkit keys under `dir` ('' or ending with '/'). */
export function dirRange(dir: string): { key: Buffer; range_end: Buffer } {
  // etcd refuses an empty key; NUL is the smallest key and no kvkit key starts with it.
  const start = dir === '' ? Buffer.from([0]) : keyBytes(dir);
  return { key: start, range_end: Buffer.concat([keyBytes(dir), Buffer.from([HIDDEN])]) };
}

/**
 * The range of the queue of lock `lockKey` (a caller key, without the store prefix):
 * `<prefix> 0xFF <lockKey> 0x00 <lease id>`. Keys have no NUL, so one lock's queue never
 * contains another's (the queue of `a` does not hold the waiters of `a/b`).
 */
export function lockQueueRange(storePrefix: string, lockKey: string): { key: Buffer; range_end: Buffer } {
  const head = Buffer.concat([keyBytes(storePrefix), Buffer.from([HIDDEN]), keyBytes(lockKey)]);
  return { key: Buffer.concat([head, Buffer.from([0])]), range_end: Buffer.concat([head, Buffer.from([1])]) };
}

/** One waiter's key in a lock queue: the queue prefix and the lease id in fixed-width hex. */
export function waiterKey(queue: { key: Buffer }, leaseId: string): Buffer {
  return Buffer.concat([queue.key, Buffer.from(BigInt(leaseId).toString(16).padStart(16, '0'), 'latin1')]);
}
