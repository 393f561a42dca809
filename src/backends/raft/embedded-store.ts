import { randomUUID } from 'node:crypto';
import { encodeRequest, type KvCommand, type KvResult, type KvStateMachine } from '../../raft/kv/index.js';
import type { Replica } from '../../raft/replica.js';
import { BaseStore } from '../../store/base-store.js';
import { Channel } from '../../store/channel.js';
import {
  CannotLockError,
  ClosedError,
  KeyExistsError,
  KeyModifiedError,
  KeyNotFoundError,
  KVError,
  NotReachableError,
} from '../../store/errors.js';
import { isUnder } from '../../store/keys.js';
import { sleep } from '../../store/signals.js';
import type { Capabilities, KVPair, Locker } from '../../store/types.js';
import { type LockHost, RaftLock } from './raft-lock.js';

export interface EmbeddedStoreOptions {
  prefix?: string;
  /** How long a call keeps retrying through elections before NOT_REACHABLE. Default 10,000 ms. */
  connectTimeoutMs?: number;
}

/** How long one proposal attempt may take before it is retried with the same sequence number. */
const ATTEMPT_TIMEOUT_MS = 2000;

/**
 * The Store served inside a Raft node: writes are proposals through the local replica (no
 * socket on the data path), reads come from the local state machine after a ReadIndex
 * barrier (linearizable), or at once with `consistent: false`. Each store is a client
 * session: a retried write carries the same sequence number and is applied at most once.
 */
export class RaftEmbeddedStore extends BaseStore implements LockHost {
  readonly capabilities: Capabilities = {
    watch: true,
    watchTree: true,
    locks: true,
    ttl: { minMs: 1, granularityMs: 250 },
    watchCoalesces: false,
    crossProcessWatch: true,
  };
  readonly replica: Replica;
  readonly sm: KvStateMachine;
  readonly clientId = randomUUID();
  readonly #timeoutMs: number;
  #seq = 0;

  constructor(replica: Replica, sm: KvStateMachine, options: EmbeddedStoreOptions = {}) {
    super(options.prefix);
    this.replica = replica;
    this.sm = sm;
    this.#timeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** Aborts when this store closes (locks stop their keep-alives on it). */
  get closing(): AbortSignal {
    return this.closeSignal;
  }

  /** Proposes a command as this store's session, retrying through elections until the deadline. */
  async submit(cmd: KvCommand): Promise<KvResult> {
    const request = encodeRequest({ client: this.clientId, seq: ++this.#seq, cmd });
    const deadline = Date.now() + this.#timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (this.closed) throw new ClosedError();
      try {
        const timeoutMs = Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now()));
        return (await this.replica.propose(request, { timeoutMs })) as KvResult;
      } catch (err) {
        if (err instanceof KVError && err.code === 'CLOSED') throw err;
        lastError = err;
        // TIMEOUT: maybe applied, maybe not; the same sequence number makes the retry safe.
        if (!(err instanceof KVError && err.code === 'TIMEOUT')) await sleep(50);
      }
    }
    throw new NotReachableError(`no Raft quorum answered within ${this.#timeoutMs} ms`, { cause: lastError });
  }

  /** Waits until this node has applied everything committed before the call. */
  async barrier(): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (this.closed) throw new ClosedError();
      try {
        await this.replica.readBarrier({
          timeoutMs: Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now())),
        });
        return;
      } catch (err) {
        if (err instanceof KVError && err.code === 'CLOSED') throw err;
        lastError = err;
        await sleep(50);
      }
    }
    throw new NotReachableError(`no Raft quorum confirmed a read within ${this.#timeoutMs} ms`, {
      cause: lastError,
    });
  }

  protected async doPut(key: string, value: Uint8Array, ttlMs: number | undefined): Promise<void> {
    await this.submit({ op: 'put', key, value, ttlMs });
  }

  protected async doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    if (consistent) await this.barrier();
    return this.sm.get(key);
  }

  protected async doDelete(key: string): Promise<void> {
    await this.submit({ op: 'del', key });
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    await this.barrier();
    return this.sm.list(dir);
  }

  protected async doDeleteTree(dir: string): Promise<void> {
    await this.submit({ op: 'delTree', dir });
  }

  protected async doAtomicPut(
    key: string,
    value: Uint8Array,
    previous: KVPair | null,
    ttlMs: number | undefined,
  ): Promise<KVPair> {
    const result = await this.submit({ op: 'cas', key, value, prev: previous?.lastIndex ?? 0, ttlMs });
    if (!result.ok) throw resultError(result, this.callerKey(key));
    return { key, value, lastIndex: result.revision };
  }

  protected async doAtomicDelete(key: string, previous: KVPair): Promise<void> {
    const result = await this.submit({ op: 'cad', key, prev: previous.lastIndex });
    if (!result.ok) throw resultError(result, this.callerKey(key));
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    return this.#watch(signal, (channel) => {
      channel.push(this.sm.get(key));
      return this.sm.onChange((events) => {
        for (const event of events) if (event.key === key) channel.push(event.state);
      });
    });
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    return this.#watch(signal, (channel) => {
      channel.push(this.sm.list(dir));
      return this.sm.onChange((events) => {
        if (events.some((e) => isUnder(e.key, dir))) channel.push(this.sm.list(dir));
      });
    });
  }

  protected doNewLock(key: string, value: Uint8Array, ttlMs: number): Locker {
    return new RaftLock(this, key, value, ttlMs);
  }

  waitForLock(key: string, owner: string, lease: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.sm.lockHolder(key) === owner) finish(null);
        else if (!this.sm.hasLease(lease))
          finish(new CannotLockError(`lease of lock ${key} expired while waiting`));
      };
      const finish = (err: unknown) => {
        off();
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => finish(signal.reason ?? new CannotLockError('lock wait aborted'));
      const off = this.sm.onChange(check);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      else check();
    });
  }

  watchLock(key: string, owner: string, onLost: () => void): () => void {
    return this.sm.onChange((events) => {
      if (events.some((e) => e.key === key) && this.sm.lockHolder(key) !== owner) onLost();
    });
  }

  protected async doClose(): Promise<void> {}

  /** Starts from a linearizable point, then follows the applied stream: nothing lost, nothing repeated. */
  async *#watch<T>(signal: AbortSignal, follow: (channel: Channel<T>) => () => void): AsyncIterable<T> {
    await this.barrier();
    const channel = new Channel<T>({ signal, onEnd: () => unsubscribe() });
    const unsubscribe = follow(channel);
    yield* channel;
  }
}

export function resultError(result: Extract<KvResult, { ok: false }>, key: string): KVError {
  switch (result.code) {
    case 'KEY_EXISTS':
      return new KeyExistsError(key);
    case 'KEY_MODIFIED':
      return new KeyModifiedError(key);
    case 'KEY_NOT_FOUND':
      return new KeyNotFoundError(key);
    default:
      return new KVError(result.code, `${result.code} for ${key}`);
  }
}
