import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { checkLmdbFile } from '../../lmdb/file-check.js';
import { DataCorruptError, InvalidArgumentError, NotReachableError } from '../../store/errors.js';
import { lmdbKey } from './lmdb-keys.js';
import { WriterGate } from './writer-gate.js';

/** One stored key: the full key (LMDB keys of long keys are hashed), value, revision, expiry. */
export interface StoredRecord {
  k: string;
  v: Uint8Array;
  r: number;
  /** Wall-clock expiry (ms since epoch) of a TTL key. */
  e?: number;
}

/** Called after a change; `keys` lists the changed keys when known (this process's writes). */
export type ChangeListener = (keys: string[] | null) => void;

const POLL_MS = 50;
const SWEEP_MS = 100;
const FILE_NAME = 'kvkit.mdb';
/** Written into `meta` once; a file with another format (or other databases) is not ours. */
const FORMAT = 'kvkit-local/2';
const OUR_DATABASES = new Set(['kv', 'expiry', 'meta']);

/**
 * One LMDB environment per directory and process, shared by every local store opened on it:
 * the key records, an expiry index, the revision counter, TTL sweeping, and the change feed
 * (this process's writes at once, other processes' through a poll of the revision counter).
 */
export class LocalEnvironment {
  static readonly #open = new Map<string, LocalEnvironment>();
  readonly path: string;
  readonly #root: RootDatabase;
  readonly #gate: WriterGate;
  readonly kv: Database<StoredRecord, string>;
  readonly #expiry: Database<string, string>;
  readonly #meta: Database<number | string, string>;
  readonly #listeners = new Set<ChangeListener>();
  #references = 0;
  #seenRevision = 0;
  #poller: NodeJS.Timeout | null = null;
  readonly #sweeper: NodeJS.Timeout;

  static acquire(dir: string): LocalEnvironment {
    if (!dir?.startsWith('/'))
      throw new InvalidArgumentError(`local store needs an absolute directory, got ${JSON.stringify(dir)}`);
    const path = resolve(dir);
    let env = LocalEnvironment.#open.get(path);
    if (!env) {
      env = new LocalEnvironment(path);
      LocalEnvironment.#open.set(path, env);
    }
    env.#references++;
    return env;
  }

  private constructor(path: string) {
    this.path = path;
    const file = join(path, FILE_NAME);
    try {
      // Owner only: the data directory 0700, LMDB's data and lock files 0600.
      mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new NotReachableError(`cannot create local store directory ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    // Before LMDB maps it: a truncated or garbage file would crash the process (SIGBUS/SIGSEGV).
    checkLmdbFile(file);
    this.#gate = new WriterGate(path);
    try {
      // Opened holding the gate: an open while another process commits can lose that commit.
      const opened = this.#gate.holdSync(() => LocalEnvironment.#openFile(file));
      this.#root = opened.root;
      this.kv = opened.kv;
      this.#expiry = opened.expiry;
      this.#meta = opened.meta;
    } catch (err) {
      void this.#gate.close();
      throw err;
    }
    this.#seenRevision = this.revision();
    this.#sweeper = setInterval(() => void this.#sweep(), SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Opens the LMDB file and its databases, stamping or checking the format. */
  static #openFile(file: string) {
    const existed = existsSync(file);
    let root: RootDatabase;
    try {
      root = open({ path: file, maxDbs: 4, permissionsMode: 0o600 } as Parameters<typeof open>[0]);
    } catch (err) {
      const message = `cannot open local store file ${file}: ${(err as Error).message}`;
      throw existed
        ? new DataCorruptError(message, { cause: err })
        : new NotReachableError(message, { cause: err });
    }
    try {
      checkForeign(root, file);
      const kv = root.openDB<StoredRecord, string>({ name: 'kv' });
      const expiry = root.openDB<string, string>({ name: 'expiry' });
      const meta = root.openDB<number | string, string>({ name: 'meta' });
      adoptFormat(file, root, kv, expiry, meta);
      return { root, kv, expiry, meta };
    } catch (err) {
      void root.close();
      if (err instanceof DataCorruptError) throw err;
      throw new DataCorruptError(`${file} is not a kvkit local store: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  revision(): number {
    const revision = this.#meta.get('revision');
    return typeof revision === 'number' ? revision : 0;
  }

  /** Reads the live record of `key`: null when absent or expired. */
  read(key: string): StoredRecord | null {
    const record = this.kv.get(lmdbKey(key));
    if (!record || record.k !== key || isExpired(record)) return null;
    return record;
  }

  /** Live records whose key starts with `dir` ('' for all). */
  scan(dir: string): StoredRecord[] {
    const start = lmdbKey(dir, true);
    const out: StoredRecord[] = [];
    for (const { key, value } of this.kv.getRange({ start })) {
      if (!key.startsWith(start)) break;
      if (value.k.startsWith(dir) && !isExpired(value)) out.push(value);
    }
    return out;
  }

  /**
   * Runs `change` in one durable write transaction (serialised across processes by LMDB's
   * writer lock). `change` gets the next revision and returns the keys it changed (none: no
   * revision is used) plus a result; watchers are told once the commit is on disk.
   */
  async write<T>(change: (tx: WriteScope) => { changed: string[]; result: T }): Promise<T> {
    // Holding the gate, so no process opens the file while this commits (see WriterGate).
    const outcome = await this.#gate.hold(async () => {
      const out = await this.#root.transaction(() => {
        const scope = new WriteScope(this, this.revision() + 1);
        const result = change(scope);
        if (result.changed.length > 0) this.#meta.putSync('revision', scope.revision);
        return result;
      });
      await this.#root.flushed;
      return out;
    });
    if (outcome.changed.length > 0) this.#emit(outcome.changed);
    return outcome.result;
  }

  putRecord(record: StoredRecord): void {
    const key = lmdbKey(record.k);
    const old = this.kv.get(key);
    if (old?.e !== undefined) this.#expiry.removeSync(expiryKey(old.e, old.k));
    this.kv.putSync(key, record);
    if (record.e !== undefined) this.#expiry.putSync(expiryKey(record.e, record.k), record.k);
  }

  removeRecord(key: string): boolean {
    const old = this.kv.get(lmdbKey(key));
    if (!old || old.k !== key) return false;
    if (old.e !== undefined) this.#expiry.removeSync(expiryKey(old.e, old.k));
    this.kv.removeSync(lmdbKey(key));
    return true;
  }

  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    if (!this.#poller) {
      this.#seenRevision = this.revision();
      this.#poller = setInterval(() => this.#poll(), POLL_MS);
      this.#poller.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#poller) {
        clearInterval(this.#poller);
        this.#poller = null;
      }
    };
  }

  async release(): Promise<void> {
    if (--this.#references > 0) return;
    LocalEnvironment.#open.delete(this.path);
    clearInterval(this.#sweeper);
    if (this.#poller) clearInterval(this.#poller);
    this.#listeners.clear();
    await this.#root.close();
    await this.#gate.close();
  }

  #emit(keys: string[] | null): void {
    for (const listener of [...this.#listeners]) listener(keys);
  }

  /** Other processes' writes show up as a new revision. */
  #poll(): void {
    this.#root.resetReadTxn();
    const revision = this.revision();
    if (revision === this.#seenRevision) return;
    this.#seenRevision = revision;
    this.#emit(null);
  }

  async #sweep(): Promise<void> {
    const now = Date.now();
    const due: string[] = [];
    for (const { value } of this.#expiry.getRange({ end: expiryKey(now + 1, ''), limit: 1000 }))
      due.push(value);
    if (due.length === 0) return;
    await this.write((tx) => {
      const changed = due.filter((key) => {
        const record = this.kv.get(lmdbKey(key));
        return record !== undefined && record.k === key && isExpired(record) && tx.remove(key);
      });
      return { changed, result: undefined };
    }).catch(() => {
      // Closed while sweeping, or another process swept first: the next sweep retries.
    });
  }
}

/** The writes one transaction may make; all get the same new revision. */
export class WriteScope {
  constructor(
    private readonly env: LocalEnvironment,
    readonly revision: number,
  ) {}

  read(key: string): StoredRecord | null {
    return this.env.read(key);
  }

  scan(dir: string): StoredRecord[] {
    return this.env.scan(dir);
  }

  put(key: string, value: Uint8Array, ttlMs: number | undefined): StoredRecord {
    const record: StoredRecord = { k: key, v: value, r: this.revision };
    if (ttlMs !== undefined) record.e = Date.now() + ttlMs;
    this.env.putRecord(record);
    return record;
  }

  remove(key: string): boolean {
    return this.env.removeRecord(key);
  }
}

/** Another program's LMDB file (the Raft log, say) holds databases this store never makes. */
function checkForeign(root: RootDatabase, file: string): void {
  const names = [...root.getKeys({ limit: 100 })].map(String);
  const strangers = names.filter((name) => !OUR_DATABASES.has(name));
  if (strangers.length > 0) {
    throw new DataCorruptError(
      `${file} is an LMDB file of another program (it holds ${strangers.slice(0, 5).join(', ')}), ` +
        'not a kvkit local store. Refusing to open it; nothing was changed.',
    );
  }
}

/**
 * Stamps a new file with FORMAT; a file of the first format (no stamp; long keys under the
 * old slot scheme) is brought to this one in one transaction; a file of another format is refused.
 */
function adoptFormat(
  file: string,
  root: RootDatabase,
  kv: Database<StoredRecord, string>,
  expiry: Database<string, string>,
  meta: Database<number | string, string>,
): void {
  const format = meta.get('format');
  if (format === FORMAT) return;
  if (format !== undefined) {
    throw new DataCorruptError(
      `${file} has format ${JSON.stringify(format)}; this kvkit reads ${FORMAT}. Refusing to open it.`,
    );
  }
  root.transactionSync(() => {
    if (meta.get('format') === FORMAT) return;
    for (const { key, value } of kv.getRange({})) {
      if (typeof value?.k !== 'string') throw new DataCorruptError(`${file}: a record without its key`);
      if (key !== lmdbKey(value.k)) {
        kv.removeSync(key);
        kv.putSync(lmdbKey(value.k), value);
      }
    }
    expiry.clearSync();
    for (const { value } of kv.getRange({})) {
      if (value.e !== undefined) expiry.putSync(expiryKey(value.e, value.k), value.k);
    }
    meta.putSync('format', FORMAT);
  });
}

function isExpired(record: StoredRecord): boolean {
  return record.e !== undefined && record.e <= Date.now();
}

/**
 * Expiry index key: zero-padded time first, so a range read finds what is due; then the
 * key's LMDB slot (the full key may be longer than LMDB allows; the value holds it).
 */
function expiryKey(expiresAt: number, key: string): string {
  return `${String(expiresAt).padStart(16, '0')}|${lmdbKey(key)}`;
}
