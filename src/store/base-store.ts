import {
  ClosedError,
  InvalidArgumentError,
  KeyNotFoundError,
  KVError,
  PreviousNotSpecifiedError,
} from './errors.js';
import { isUnder, normalizeKey, normalizePrefix } from './keys.js';
import { checkTtlMs, checkValueSize } from './limits.js';
import { anySignal } from './signals.js';
import type {
  Capabilities,
  GetOptions,
  KVPair,
  Locker,
  LockOptions,
  PutOptions,
  Store,
  Value,
  WatchOptions,
} from './types.js';
import { sameBytes, toBytes } from './values.js';

// Re-exported where it always was: backends import it from here.
export { MAX_VALUE_BYTES } from './limits.js';

/** Default lock TTL when the caller gives none (ms). */
export const DEFAULT_LOCK_TTL_MS = 15_000;

/**
 * The behaviour every backend shares, written once: key and value validation, the store
 * prefix, TTL checks, the closed state, and watch hygiene (dedupe, never older, clean end on
 * abort or close). A backend implements the `do*` methods on normalised, prefixed keys.
 */
export abstract class BaseStore implements Store {
  abstract readonly capabilities: Capabilities;
  readonly #prefix: string;
  readonly #closing = new AbortController();
  #closed = false;

  constructor(prefix?: string) {
    this.#prefix = prefix ? normalizePrefix(prefix) : '';
  }

  /** Aborts when the store closes; backends end their watches and timers on it. */
  protected get closeSignal(): AbortSignal {
    return this.#closing.signal;
  }

  /** A backend key as the caller sees it (without the store prefix). */
  protected callerKey(key: string): string {
    return this.#strip(key);
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  protected abstract doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void>;
  /** null when absent. */
  protected abstract doGet(key: string, consistent: boolean): Promise<KVPair | null>;
  protected abstract doDelete(key: string): Promise<void>;
  /** `dir` is '' or ends with '/'; keys returned in any order. */
  protected abstract doList(dir: string): Promise<KVPair[]>;
  protected abstract doDeleteTree(dir: string): Promise<void>;
  protected abstract doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair>;
  protected abstract doAtomicDelete(key: string, previous: KVPair): Promise<void>;
  /** Must end when `signal` aborts. */
  protected abstract doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null>;
  /** Must end when `signal` aborts; lists in any order. */
  protected abstract doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]>;
  protected abstract doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker;
  protected abstract doClose(): Promise<void>;

  protected doExists(key: string): Promise<boolean> {
    return this.doGet(key, true).then((pair) => pair !== null);
  }

  // Not async, like get: the backend's promise is the caller's.
  put(key: string, value: Value, opts?: PutOptions): Promise<void> {
    try {
      const k = this.#key(key);
      const bytes = this.#value(value);
      const ttlMs = this.#ttl(opts?.ttl);
      this.#checkOpen();
      return this.doPut(k, bytes, ttlMs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // Not async: the hot read of every backend, one `then` on the backend's promise instead of an
  // async frame around it (bench/backends/redis.ts: 64 callers at 200,000+ gets/s feel each layer).
  get(key: string, opts?: GetOptions): Promise<KVPair> {
    let k: string;
    try {
      k = this.#key(key);
      this.#checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.doGet(k, opts?.consistent ?? true).then((pair) => {
      if (pair === null) throw new KeyNotFoundError(this.#strip(k));
      return this.#out(pair);
    });
  }

  async delete(key: string): Promise<void> {
    const k = this.#key(key);
    this.#checkOpen();
    await this.doDelete(k);
  }

  async exists(key: string): Promise<boolean> {
    const k = this.#key(key);
    this.#checkOpen();
    return this.doExists(k);
  }

  async list(prefix: string): Promise<KVPair[]> {
    const dir = this.#dir(prefix);
    this.#checkOpen();
    return this.#outList(await this.doList(dir), dir);
  }

  async deleteTree(prefix: string): Promise<void> {
    const dir = this.#dir(prefix);
    this.#checkOpen();
    await this.doDeleteTree(dir);
  }

  async atomicPut(key: string, value: Value, previous: KVPair | null, opts?: PutOptions): Promise<KVPair> {
    const k = this.#key(key);
    const bytes = this.#value(value);
    const ttlMs = this.#ttl(opts?.ttl);
    if (previous !== null) checkPrevious(previous, key);
    this.#checkOpen();
    return this.#out(await this.doAtomicPut(k, bytes, previous && { ...previous, key: k }, ttlMs));
  }

  async atomicDelete(key: string, previous: KVPair): Promise<void> {
    const k = this.#key(key);
    if (previous === null || previous === undefined) throw new PreviousNotSpecifiedError(key);
    checkPrevious(previous, key);
    this.#checkOpen();
    await this.doAtomicDelete(k, { ...previous, key: k });
  }

  async *watch(key: string, opts?: WatchOptions): AsyncIterable<KVPair | null> {
    const k = this.#key(key);
    this.#checkOpen();
    const signal = anySignal(opts?.signal, this.#closing.signal);
    if (signal.aborted) return;
    let last: KVPair | null | undefined;
    for await (const state of this.doWatch(k, signal)) {
      if (signal.aborted) return;
      if (last !== undefined && sameState(last, state)) continue;
      if (last && state && state.lastIndex < last.lastIndex) continue;
      last = state;
      yield state && this.#out(state);
    }
  }

  async *watchTree(prefix: string, opts?: WatchOptions): AsyncIterable<KVPair[]> {
    const dir = this.#dir(prefix);
    this.#checkOpen();
    const signal = anySignal(opts?.signal, this.#closing.signal);
    if (signal.aborted) return;
    let last: KVPair[] | undefined;
    for await (const list of this.doWatchTree(dir, signal)) {
      if (signal.aborted) return;
      const sorted = this.#outList(list, dir);
      if (last !== undefined && sameList(last, sorted)) continue;
      last = sorted;
      yield sorted;
    }
  }

  newLock(key: string, opts?: LockOptions): Locker {
    const k = this.#key(key);
    const value = opts?.value === undefined ? new Uint8Array() : this.#value(opts.value);
    const ttlMs = this.#ttl(opts?.ttl, 'lock ttl') ?? DEFAULT_LOCK_TTL_MS;
    this.#checkOpen();
    return this.doNewLock(k, value, ttlMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new ClosedError());
    await this.doClose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError();
  }

  #key(key: string): string {
    return this.#prefix + normalizeKey(key);
  }

  #dir(prefix: string): string {
    const dir = normalizePrefix(prefix);
    return this.#prefix + dir;
  }

  /**
   * The caller's value as bytes of the store's own (a later change to the caller's array must
   * not reach the store). A backend that only sends the bytes may copy them more cheaply.
   */
  protected valueBytes(value: Value): Uint8Array {
    return toBytes(value);
  }

  #value(value: Value): Uint8Array {
    const bytes = this.valueBytes(value);
    checkValueSize(bytes, this.capabilities.maxValueBytes);
    return bytes;
  }

  /** Checked against MAX_TTL_MS (any TTL up to it works on every backend), then the backend's floor. */
  #ttl(ttl: number | undefined, what = 'ttl'): number | undefined {
    if (ttl === undefined) return undefined;
    const ttlMs = checkTtlMs(ttl, what);
    const cap = this.capabilities.ttl;
    if (cap === null) throw new KVError('CALL_NOT_SUPPORTED', 'this backend does not support TTLs');
    return Math.max(ttlMs, cap.minMs);
  }

  #strip(key: string): string {
    return key.slice(this.#prefix.length);
  }

  #out(pair: KVPair): KVPair {
    return this.#prefix === '' ? pair : { ...pair, key: this.#strip(pair.key) };
  }

  #outList(pairs: KVPair[], dir: string): KVPair[] {
    return pairs
      .filter((p) => isUnder(p.key, dir))
      .map((p) => this.#out(p))
      .sort((a, b) => compareKeys(a.key, b.key));
  }
}

/** Key order of every list: by code unit, like a byte-wise sort for ASCII keys. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkPrevious(previous: KVPair, key: string): void {
  if (typeof previous !== 'object' || typeof previous.lastIndex !== 'number' || previous.lastIndex <= 0) {
    throw new InvalidArgumentError(`previous pair for ${key} has no valid lastIndex`);
  }
}

function sameState(a: KVPair | null, b: KVPair | null): boolean {
  if (a === null || b === null) return a === b;
  return a.lastIndex === b.lastIndex && sameBytes(a.value, b.value);
}

function sameList(a: KVPair[], b: KVPair[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].key !== b[i].key || a[i].lastIndex !== b[i].lastIndex) return false;
  }
  return true;
}
