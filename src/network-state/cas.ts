import { isKVError, KVError } from '../store/errors.js';
import type { KVPair, Store } from '../store/types.js';
import { json } from '../store/values.js';

/** The error codes that mean "someone changed it since you read it": re-read and try again. */
export function isConflict(err: unknown): boolean {
  return isKVError(err, 'KEY_MODIFIED') || isKVError(err, 'KEY_EXISTS') || isKVError(err, 'KEY_NOT_FOUND');
}

/** A record and the pair it was read from (null when absent). */
export interface Versioned<T> {
  value: T;
  pair: KVPair;
}

export async function readRecord<T>(store: Store, key: string): Promise<Versioned<T> | null> {
  try {
    const pair = await store.get(key);
    return { value: json<T>(pair), pair };
  } catch (err) {
    if (isKVError(err, 'KEY_NOT_FOUND')) return null;
    throw err;
  }
}

export async function listRecords<T>(store: Store, dir: string): Promise<Versioned<T>[]> {
  return (await store.list(dir)).map((pair) => ({ value: json<T>(pair), pair }));
}

/** Leave the record as it is. */
export const UNCHANGED = Symbol('unchanged');
/** Delete the record. */
export const DELETE = Symbol('delete');

const MAX_ATTEMPTS = 10_000;

/**
 * Read-modify-write of one JSON record with compare-and-swap, retried from a fresh read on every
 * conflict, so concurrent writers (other processes included) never lose an update. `change` gets
 * the current value (null when absent) and returns the next one, UNCHANGED or DELETE; it may throw
 * to abort. Resolves with the value written (or the current one when unchanged/deleted).
 */
export async function updateRecord<T>(
  store: Store,
  key: string,
  change: (current: T | null) => T | typeof UNCHANGED | typeof DELETE,
): Promise<T | null> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await readRecord<T>(store, key);
    const next = change(current?.value ?? null);
    if (next === UNCHANGED) return current?.value ?? null;
    try {
      if (next === DELETE) {
        if (current) await store.atomicDelete(key, current.pair);
        return null;
      }
      await store.atomicPut(key, JSON.stringify(next), current?.pair ?? null);
      return next;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
  throw new KVError('KEY_MODIFIED', `gave up updating ${key} after ${MAX_ATTEMPTS} conflicting writes`);
}
