/**
 * The gossip keyring in the Store (what Swarm's managers do with the network bootstrap keys):
 * managers keep it under the network prefix and rotate it, every 12 h by default, in three
 * compare-and-swap steps a step apart — add the new key (not primary) everywhere, make it
 * primary, remove the old one — so no member ever meets a packet it has no key for
 * (moby#30590, swarmkit #1954). The schedule lives in the record, not in a manager's memory,
 * so a change of acting manager never rotates early. Agents read it before their member starts
 * and follow it with setKeys.
 *
 * Keys never appear in a log line or an error: messages name the record, never its content.
 */
import { randomBytes } from 'node:crypto';
import { resilientWatch } from '../discovery/resilient-watch.js';
import { isConflict } from '../network-state/cas.js';
import { Backoff } from '../store/backoff.js';
import { InvalidArgumentError, isKVError, KVError } from '../store/errors.js';
import { sleep } from '../store/signals.js';
import type { KVPair, Store } from '../store/types.js';
import { MAX_KEYS } from './runtime/keyring.js';

/** Docker's rotation period for the gossip keys. */
export const DEFAULT_KEY_ROTATION_MS = 12 * 60 * 60 * 1000;
/** Between the steps of a rotation: long enough for every agent's watch to deliver the step. */
export const DEFAULT_KEY_STEP_MS = 60_000;
const DEFAULT_PREFIX = 'kvkit/network';
/** A loop never sleeps longer than this before looking at the record again. */
const MAX_SLEEP_MS = 60_000;

/** Where the keyring lives: `<prefix>/gossip/keyring`. */
export function gossipKeyringKey(prefix = DEFAULT_PREFIX): string {
  return `${prefix.replace(/^\/+|\/+$/g, '')}/gossip/keyring`;
}

/** `stable`: one key; `added`: a new key installed, not primary yet; `switched`: the new key primary, the old one still installed. */
type Phase = 'stable' | 'added' | 'switched';

interface KeyringRecord {
  v: 1;
  /** Base64, primary first. */
  keys: string[];
  phase: Phase;
  /** When the current phase began (ms since the epoch). */
  since: number;
}

/** How the keys are rotated (the manager's `gossipKeys` option). */
export interface GossipKeyRotation {
  /** Time from one rotation to the next (ms). Default 12 h (Docker's). */
  rotateEveryMs?: number;
  /** Time between the steps of one rotation (ms). Default 60 s. */
  stepMs?: number;
  /** 16 or 32 (AES-128 or AES-256). Default 32. */
  keyBytes?: 16 | 32;
}

export interface KeepGossipKeysOptions extends GossipKeyRotation {
  signal: AbortSignal;
  /** Network state's prefix. Default `kvkit/network`. */
  prefix?: string;
  /** Store errors the loop carries on after (never carrying a key). */
  onError?: (err: unknown) => void;
}

function checkMs(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1)
    throw new InvalidArgumentError(`${name} must be a whole number of ms from 1 to 2^31-1`);
  return value;
}

/**
 * Keeps the keyring (for a manager, while it acts): creates it with one fresh key when absent,
 * then rotates it on schedule. Every write is a CAS on the version read, so managers racing one
 * another cost a re-read, never a lost step. Resolves when `signal` aborts; never rejects.
 */
export async function keepGossipKeys(store: Store, opts: KeepGossipKeysOptions): Promise<void> {
  let rotateEveryMs: number;
  let stepMs: number;
  try {
    rotateEveryMs = checkMs('rotateEveryMs', opts.rotateEveryMs ?? DEFAULT_KEY_ROTATION_MS);
    stepMs = checkMs('stepMs', opts.stepMs ?? DEFAULT_KEY_STEP_MS);
    if (opts.keyBytes !== undefined && opts.keyBytes !== 16 && opts.keyBytes !== 32)
      throw new InvalidArgumentError('keyBytes must be 16 or 32');
  } catch (err) {
    // A manager runs this beside its loop: a bad option is reported, never an unhandled rejection.
    opts.onError?.(err);
    return;
  }
  const key = gossipKeyringKey(opts.prefix);
  const keyBytes = opts.keyBytes ?? 32;
  const { signal } = opts;
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
  const fresh = (): string => randomBytes(keyBytes).toString('base64');
  while (!signal.aborted) {
    try {
      const pair = await readPair(store, key);
      const record = pair ? decodeRecord(pair.value) : null;
      if (pair && !record)
        opts.onError?.(new KVError('DATA_CORRUPT', `the gossip keyring at ${key} is damaged: replaced`));
      const now = Date.now();
      const plan = nextStep(record, now, rotateEveryMs, stepMs, fresh);
      if (plan.next) {
        await store.atomicPut(key, JSON.stringify(plan.next), pair);
        backoff.reset();
        continue;
      }
      backoff.reset();
      await sleep(Math.max(1, Math.min(plan.dueAt - now, MAX_SLEEP_MS)), signal);
    } catch (err) {
      if (signal.aborted || isKVError(err, 'CLOSED')) return;
      if (isConflict(err)) continue;
      opts.onError?.(err);
      await backoff.wait(signal).catch(() => undefined);
    }
  }
}

/** The record to write now, or when the next step is due. */
function nextStep(
  record: KeyringRecord | null,
  now: number,
  rotateEveryMs: number,
  stepMs: number,
  fresh: () => string,
): { next: KeyringRecord; dueAt?: undefined } | { next?: undefined; dueAt: number } {
  if (!record) return { next: { v: 1, keys: [fresh()], phase: 'stable', since: now } };
  // A clock set back must not postpone a rotation forever.
  const since = Math.min(record.since, now);
  switch (record.phase) {
    case 'stable': {
      const dueAt = since + rotateEveryMs;
      if (now < dueAt) return { dueAt };
      const keys = [...record.keys, fresh()].slice(-MAX_KEYS);
      return { next: { v: 1, keys, phase: 'added', since: now } };
    }
    case 'added': {
      const dueAt = since + stepMs;
      if (now < dueAt) return { dueAt };
      const newest = record.keys[record.keys.length - 1];
      const keys = [newest, ...record.keys.slice(0, -1)];
      return { next: { v: 1, keys, phase: 'switched', since: now } };
    }
    case 'switched': {
      const dueAt = since + stepMs;
      if (now < dueAt) return { dueAt };
      return { next: { v: 1, keys: [record.keys[0]], phase: 'stable', since: now } };
    }
  }
}

async function readPair(store: Store, key: string): Promise<KVPair | null> {
  try {
    return await store.get(key);
  } catch (err) {
    if (isKVError(err, 'KEY_NOT_FOUND')) return null;
    throw err;
  }
}

function decodeRecord(value: Uint8Array): KeyringRecord | null {
  try {
    const r = JSON.parse(new TextDecoder().decode(value)) as KeyringRecord;
    if (typeof r !== 'object' || r === null || r.v !== 1) return null;
    if (r.phase !== 'stable' && r.phase !== 'added' && r.phase !== 'switched') return null;
    if (typeof r.since !== 'number' || !Number.isFinite(r.since)) return null;
    if (!Array.isArray(r.keys) || r.keys.length === 0 || r.keys.length > MAX_KEYS) return null;
    if (r.phase !== 'stable' && r.keys.length < 2) return null;
    const seen = new Set<string>();
    for (const k of r.keys) {
      if (typeof k !== 'string' || seen.has(k)) return null;
      seen.add(k);
      const bytes = Buffer.from(k, 'base64');
      if ((bytes.byteLength !== 16 && bytes.byteLength !== 32) || bytes.toString('base64') !== k) return null;
    }
    return r;
  } catch {
    return null;
  }
}

function keysOf(record: KeyringRecord): Uint8Array[] {
  return record.keys.map((k) => new Uint8Array(Buffer.from(k, 'base64')));
}

/** The keys in the Store now (primary first), or null when there is no keyring (or it is damaged). */
export async function readGossipKeys(store: Store, prefix?: string): Promise<Uint8Array[] | null> {
  const pair = await readPair(store, gossipKeyringKey(prefix));
  const record = pair ? decodeRecord(pair.value) : null;
  return record ? keysOf(record) : null;
}

export interface FollowGossipKeysOptions {
  signal: AbortSignal;
  prefix?: string;
  /** Store errors (retried) and refused records; never carrying a key. */
  onError?: (err: unknown) => void;
}

/**
 * Follows the keyring in the Store (an agent's side): every change is handed to `setKeys`
 * (a gossip member's). A missing or damaged record changes nothing. Survives the Store going
 * away (the member keeps its keys; the watch resumes from the current record). Resolves on abort.
 */
export async function followGossipKeys(
  store: Store,
  setKeys: (keys: Uint8Array[]) => Promise<void>,
  opts: FollowGossipKeysOptions,
): Promise<void> {
  const key = gossipKeyringKey(opts.prefix);
  let applied = '';
  try {
    const records = resilientWatch(
      (signal) => store.watch(key, { signal }),
      (pair: KVPair | null) => (pair ? decodeRecord(pair.value) : null),
      { signal: opts.signal, onError: opts.onError, same: (a, b) => a?.keys.join() === b?.keys.join() },
    );
    for await (const record of records) {
      if (!record) continue;
      const id = record.keys.join();
      if (id === applied) continue;
      try {
        await setKeys(keysOf(record));
        applied = id;
      } catch (err) {
        if (opts.signal.aborted) return;
        opts.onError?.(
          new KVError('INVALID_ARGUMENT', `could not install the gossip keys of ${key}`, { cause: err }),
        );
      }
    }
  } catch (err) {
    if (!opts.signal.aborted) opts.onError?.(err);
  }
}
