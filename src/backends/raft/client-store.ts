import { randomUUID } from 'node:crypto';
import { encodeRequest, type KvCommand, type KvEvent, type KvResult } from '../../raft/kv/index.js';
import type { ReplicaMember, ReplicaStatus } from '../../raft/replica.js';
import { CLIENT_CERT_NAME } from '../../raft/runtime/certs.js';
import { loadTlsDir } from '../../raft/runtime/tls-material.js';
import { Channel } from '../../store/channel.js';
import { parseEndpoints } from '../../store/endpoints.js';
import { InvalidArgumentError, KVError } from '../../store/errors.js';
import { resolveMaxValueBytes } from '../../store/limits.js';
import type { KVPair, StoreOptions, TlsOptions } from '../../store/types.js';
import { ClusterConnection } from './client-connection.js';
import { RaftCommandStore } from './command-store.js';
import type { ClientReply, ClientRequest } from './protocol.js';

/** One proposal attempt on the server before the client retries it (same sequence number). */
const ATTEMPT_TIMEOUT_MS = 2000;
/** A lock wait has no deadline of its own; the caller's signal ends it. */
const FOREVER_MS = 2 ** 31 - 1;

/**
 * `raft://host:port,...`: a Store that talks to any node's client port over one multiplexed
 * connection, moves to another node when one fails, and resumes watches from the last
 * revision it delivered, so nothing is lost or repeated.
 */
export class RaftClientStore extends RaftCommandStore {
  readonly clientId = randomUUID();
  readonly #conn: ClusterConnection;
  #seq = 0;

  /** Cluster administration through the client port. */
  readonly cluster = {
    status: () => this.#conn.call({ op: 'status' }) as Promise<ReplicaStatus>,
    members: () => this.#conn.call({ op: 'members' }) as Promise<ReplicaMember[]>,
    addMember: (member: { id: string; peerAddr: string; clientAddr: string | null }) =>
      this.#conn.call({ op: 'addMember', member }).then(() => undefined),
    removeMember: (nodeId: string) => this.#conn.call({ op: 'removeMember', nodeId }).then(() => undefined),
  };

  private constructor(
    conn: ClusterConnection,
    prefix: string | undefined,
    maxValueBytes: number | undefined,
  ) {
    super(prefix, maxValueBytes);
    this.#conn = conn;
  }

  /**
   * Connects to any node of `options.endpoints`. TLS comes from `options.tls`, or from the URL:
   * `?tlsDir=DIR` (the directory `kvkit raft certs` wrote: ca.crt and client.crt/.key) with
   * `tlsName=NAME` for another certificate. A node authenticates clients by certificate only,
   * so `username`, `password` and `token` are refused (INVALID_ARGUMENT), not ignored.
   */
  static async open(options: StoreOptions): Promise<RaftClientStore> {
    for (const name of ['username', 'password', 'token'] as const) {
      if (options[name] !== undefined) {
        throw new InvalidArgumentError(
          `raft:// takes no ${name}: a kvkit Raft node authenticates clients by TLS certificate ` +
            '(give ?tlsDir=DIR, as written by `kvkit raft certs`, or options.tls)',
        );
      }
    }
    const maxValueBytes = resolveMaxValueBytes(options.maxValueBytes);
    const conn = new ClusterConnection(parseEndpoints(options.endpoints, 7101), {
      tls: tlsOf(options),
      timeoutMs: options.connectTimeoutMs ?? 10_000,
    });
    try {
      await conn.open();
    } catch (err) {
      conn.close();
      throw err;
    }
    return new RaftClientStore(conn, options.prefix, maxValueBytes);
  }

  async submit(cmd: KvCommand): Promise<KvResult> {
    const request = encodeRequest({ client: this.clientId, seq: ++this.#seq, cmd });
    return (await this.#conn.call({ op: 'submit', request, timeoutMs: ATTEMPT_TIMEOUT_MS })) as KvResult;
  }

  protected async doGet(key: string, consistent: boolean): Promise<KVPair | null> {
    return toPair((await this.#conn.call({ op: 'get', key, consistent })) as KVPair | null);
  }

  protected async doList(dir: string): Promise<KVPair[]> {
    return ((await this.#conn.call({ op: 'list', dir })) as KVPair[]).map((p) => toPair(p) as KVPair);
  }

  protected doWatch(key: string, signal: AbortSignal): AsyncIterable<KVPair | null> {
    const channel = new Channel<KVPair | null>({ signal, onEnd: () => stop() });
    let after: number | undefined;
    const stop = this.#conn.stream(
      (id): ClientRequest => ({ id, op: 'watch', key, after }),
      (reply) =>
        this.#onWatchReply(reply, channel, {
          state: (revision, state) => {
            // A node behind the one we left may start a resumed watch at an older state.
            if (after !== undefined && revision <= after) return;
            after = revision;
            channel.push(toPair(state as KVPair | null));
          },
          events: (events) => {
            for (const event of events) {
              if (after !== undefined && event.revision <= after) continue;
              after = event.revision;
              channel.push(toPair(event.state));
            }
          },
        }),
    );
    return channel;
  }

  protected doWatchTree(dir: string, signal: AbortSignal): AsyncIterable<KVPair[]> {
    // Latest only: a reader slower than the changes sorts the newest full list, not each one.
    const channel = new Channel<KVPair[]>({ signal, latestOnly: true, onEnd: () => stop() });
    const tree = new Map<string, KVPair>();
    let after: number | undefined;
    const stop = this.#conn.stream(
      (id): ClientRequest => ({ id, op: 'watch', dir, after }),
      (reply) =>
        this.#onWatchReply(reply, channel, {
          state: (revision, state) => {
            if (after !== undefined && revision <= after) return;
            after = revision;
            tree.clear();
            for (const pair of state as KVPair[]) tree.set(pair.key, toPair(pair) as KVPair);
            channel.push([...tree.values()]);
          },
          events: (events) => {
            // One list per revision: a deleteTree is one change, not one per key.
            for (let i = 0; i < events.length; ) {
              const revision = events[i].revision;
              let changed = false;
              for (; i < events.length && events[i].revision === revision; i++) {
                if (after !== undefined && revision <= after) continue;
                const { key, state } = events[i];
                if (state) tree.set(key, toPair(state) as KVPair);
                else tree.delete(key);
                changed = true;
              }
              if (changed) {
                after = revision;
                channel.push([...tree.values()]);
              }
            }
          },
        }),
    );
    return channel;
  }

  #onWatchReply<T>(
    reply: ClientReply,
    channel: Channel<T>,
    handle: { state: (revision: number, state: unknown) => void; events: (events: KvEvent[]) => void },
  ): void {
    if ('kind' in reply) {
      if (reply.kind === 'state') handle.state(reply.revision, reply.state);
      else handle.events(reply.events);
    } else if (!reply.ok) {
      channel.fail(new KVError(reply.code, reply.message));
    }
  }

  async waitForLock(key: string, owner: string, lease: number, signal: AbortSignal): Promise<void> {
    await this.#conn.call({ op: 'lockWait', key, owner, lease }, FOREVER_MS, signal);
  }

  watchLock(key: string, owner: string, onLost: () => void): () => void {
    let lost = false;
    const stop = this.#conn.stream(
      (id): ClientRequest => ({ id, op: 'watch', key }),
      (reply) => {
        if (lost || !('kind' in reply)) return;
        void (this.#conn.call({ op: 'lockHolder', key }) as Promise<string | null>).then(
          (holder) => {
            if (holder !== owner && !lost) {
              lost = true;
              onLost();
            }
          },
          () => {},
        );
      },
    );
    return stop;
  }

  protected async doClose(): Promise<void> {
    this.#conn.close();
  }
}

/** TLS material from the options, or from the URL's `tlsDir` (+ `tlsName`). */
function tlsOf(options: StoreOptions): TlsOptions | undefined {
  const dir = options.params?.tlsDir;
  const name = options.params?.tlsName;
  if (dir === undefined) {
    if (name !== undefined) throw new InvalidArgumentError('raft:// tlsName needs tlsDir');
    return options.tls;
  }
  if (options.tls)
    throw new InvalidArgumentError('raft://: give TLS material as options.tls or ?tlsDir, not both');
  return loadTlsDir(dir, name ?? CLIENT_CERT_NAME);
}

/** msgpack hands back Buffers; callers get plain Uint8Arrays. */
function toPair(pair: KVPair | null): KVPair | null {
  return pair && { key: pair.key, value: new Uint8Array(pair.value), lastIndex: pair.lastIndex };
}
