import { randomUUID } from 'node:crypto';
import { RaftCommandStore } from '../backends/raft/command-store.js';
import { encodeRequest, type KvCommand, type KvResult, type KvStateMachine } from '../raft/kv/index.js';
import type { Replica } from '../raft/replica.js';
import { Channel } from '../store/channel.js';
import { ClosedError, KVError, NotReachableError } from '../store/errors.js';
import { isUnder } from '../store/keys.js';
import { sleep } from '../store/signals.js';
import type { KVPair } from '../store/types.js';
import { waitForLockHolder } from './lock-wait.js';

export interface EmbeddedStoreOptions {
  prefix?: string;
  /** How long a call keeps retrying through elections before NOT_REACHABLE. Default 10,000 ms. */
  connectTimeoutMs?: number;
  /** The node's largest value (VALUE_TOO_LARGE above); default MAX_VALUE_BYTES (1 MiB). */
  maxValueBytes?: number;
}

/** How long one proposal attempt may take before it is retried with the same sequence number. */
const ATTEMPT_TIMEOUT_MS = 2000;

/**
 * The Store served inside a Raft node: writes are proposals through the local replica (no
 * socket on the data path), reads come from the local state machine after a ReadIndex
 * barrier (linearizable), or at once with `consistent: false`. Each store is a client
 * session: a retried write carries the same sequence number and is applied at most once.
 */
export class RaftEmbeddedStore extends RaftCommandStore {
  readonly replica: Replica;
  readonly sm: KvStateMachine;
  readonly clientId = randomUUID();
  readonly #timeoutMs: number;
  #seq = 0;

  constructor(replica: Replica, sm: KvStateMachine, options: EmbeddedStoreOptions = {}) {
    super(options.prefix, options.maxValueBytes);
    this.replica = replica;
    this.sm = sm;
    this.#timeoutMs = options.connectTimeoutMs ?? 10_000;
  }

  /** Proposes a command as this store's session, retrying through elections until the deadline. */
  submit(cmd: KvCommand): Promise<KvResult> {
    const request = encodeRequest({ client: this.clientId, seq: ++this.#seq, cmd });
    // A retry after TIMEOUT (maybe applied, maybe not) is safe: it keeps the sequence number.
    return this.#retry(
      'answered',
      (timeoutMs) => this.replica.propose(request, { timeoutMs }) as Promise<KvResult>,
    );
  }

  /** Waits until this node has applied everything committed before the call. */
  barrier(): Promise<void> {
    return this.#retry('confirmed a read', (timeoutMs) => this.replica.readBarrier({ timeoutMs }));
  }

  /**
   * Runs `attempt` (each bounded by ATTEMPT_TIMEOUT_MS) until it succeeds or the store's
   * deadline passes (then NOT_REACHABLE); a failure that came fast (no leader yet) pauses first.
   */
  async #retry<T>(what: string, attempt: (timeoutMs: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (this.closed) throw new ClosedError();
      try {
        return await attempt(Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now())));
      } catch (err) {
        if (err instanceof KVError && err.code === 'CLOSED') throw err;
        lastError = err;
        if (!(err instanceof KVError && err.code === 'TIMEOUT')) await sleep(50);
      }
    }
    throw new NotReachableError(`no Raft quorum ${what} within ${this.#timeoutMs} ms`, { cause: lastError });
  }

  protected async doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    if (consistent) await this.barrier();
    return this.sm.get(key);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    await this.barrier();
    return this.sm.list(dir);
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
      // One list per turn of the event loop, not per applied entry: listing N keys for each of
      // N writes was O(N²) inside the apply path (issue 18's 4,700-node join storm).
      let listing = false;
      return this.sm.onChange((events) => {
        if (listing || !events.some((e) => isUnder(e.key, dir))) return;
        listing = true;
        setImmediate(() => {
          listing = false;
          channel.push(this.sm.list(dir));
        });
      });
    });
  }

  waitForLock(key: string, owner: string, lease: number, signal: AbortSignal): Promise<void> {
    return waitForLockHolder(this.sm, key, owner, lease, signal);
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

/** The Store served inside a Raft node, over its replica and state machine. */
export function createEmbeddedStore(
  replica: Replica,
  sm: KvStateMachine,
  options?: EmbeddedStoreOptions,
): RaftEmbeddedStore {
  return new RaftEmbeddedStore(replica, sm, options);
}
