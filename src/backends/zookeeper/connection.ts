import { type Endpoint, formatEndpoint } from '../../store/endpoints.js';
import { ClosedError, NotReachableError, TimeoutError } from '../../store/errors.js';
import { setLongTimeout } from '../../time/long-timeout.js';
import {
  sendSync,
  type ZkClient,
  type ZkException,
  type ZkOpResult,
  type ZkStat,
  type ZkState,
  type ZkTransaction,
  type ZkWatcher,
  zookeeper,
} from './zk-client.js';

export interface ConnectionOptions {
  servers: Endpoint[];
  /** Requested session timeout; the server clamps it to [minSessionTimeout, maxSessionTimeout]. */
  sessionTimeoutMs: number;
  /** How long to wait for a (re)connection before NOT_REACHABLE. */
  connectTimeoutMs: number;
  /** How long one request may take once sent before TIMEOUT. */
  requestTimeoutMs: number;
  /** `user:password` for ZooKeeper's digest scheme. */
  digest?: string;
}

/**
 * `connecting` until the first handshake; `connected` ⇄ `disconnected` while the client
 * reconnects on its own; `expired` (the session is gone: server said so, auth failed, or we
 * were disconnected longer than the session timeout) and `closed` are final.
 */
export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'expired' | 'closed';

/** A request awaiting its answer; `bornTick` is the deadline sweep it was sent in. */
interface PendingRequest {
  bornTick: number;
  op: string;
  path: string;
  reject: (err: unknown) => void;
}

/** The session behind a connection is gone: its ephemeral znodes and watches went with it. */
export class SessionLostError extends NotReachableError {}

/** Delay between reconnect rounds over all servers (the client picks a random part of it). */
const SPIN_DELAY_MS = 500;
/** Resolution of request deadlines. */
const SWEEP_MS = 500;
/** How long a graceful close waits for the server to end the session. */
const CLOSE_WAIT_MS = 1000;

/**
 * One ZooKeeper session over one node-zookeeper-client: promise-based calls with deadlines,
 * a state to wait on, and a close that really ends. The client retries connecting forever
 * and has no way to stop a pending retry, so this class guards its reconnect entry points and
 * tears the socket down itself (the only internals touched; see zk-client.ts).
 */
export class ZkConnection {
  readonly #client: ZkClient;
  readonly #opts: ConnectionOptions;
  readonly #listeners = new Set<(state: ConnectionState) => void>();
  /** Requests awaiting an answer, with the sweep tick they were sent in. */
  readonly #pending = new Set<PendingRequest>();
  readonly #sweeper: NodeJS.Timeout;
  #tick = 0;
  #state: ConnectionState = 'connecting';
  #sessionId = '';
  #sessionTimeoutMs = 0;
  #lossTimer: NodeJS.Timeout | null = null;
  /** performance.now() of the last bytes from the server. */
  #lastHeard = performance.now();
  /** performance.now() of the last sweep. */
  #lastSweepAt = performance.now();
  #dead = false;
  /** Set while close() waits for the server to end the session. */
  #closeWaiter: (() => void) | null = null;

  private constructor(opts: ConnectionOptions) {
    this.#opts = opts;
    const connectString = opts.servers.map(formatEndpoint).join(',');
    this.#client = zookeeper.createClient(connectString, {
      sessionTimeout: opts.sessionTimeoutMs,
      spinDelay: SPIN_DELAY_MS,
      retries: 0,
    });
    const manager = this.#client.connectionManager;
    // Our own parse of the endpoints: the client splits on ':' and so cannot take IPv6 hosts.
    manager.servers = shuffle(opts.servers.map(({ host, port }) => ({ host, port })));
    const connect = manager.connect.bind(manager);
    manager.connect = () => {
      if (!this.#dead) connect();
    };
    // Note when the server last said anything: the client has no read timeout of its own.
    const onSocketData = manager.onSocketData.bind(manager);
    manager.onSocketData = (buffer) => {
      this.#lastHeard = performance.now();
      onSocketData(buffer);
    };
    // The client writes each request to the socket as it is queued: one syscall per request.
    // Requests queued in the same tick (64 callers, or a sync and its read) go out together,
    // in order, in one corked write; nothing waits longer than the current tick.
    let flushing = false;
    manager.packetQueue.removeAllListeners('readable');
    manager.packetQueue.on('readable', () => {
      if (flushing) return;
      flushing = true;
      queueMicrotask(() => {
        flushing = false;
        const socket = manager.socket;
        socket?.cork();
        try {
          manager.onPacketQueueReadable();
        } finally {
          socket?.uncork();
        }
      });
    });
    const findNextServer = manager.findNextServer.bind(manager);
    manager.findNextServer = (cb) =>
      findNextServer((server) => {
        if (!this.#dead) cb(server);
      });
    if (opts.digest !== undefined) this.#client.addAuthInfo('digest', Buffer.from(opts.digest));
    this.#client.on('state', (state) => this.#onClientState(state));
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Connects a new session; NOT_REACHABLE when no server answers within connectTimeoutMs. */
  static async open(opts: ConnectionOptions): Promise<ZkConnection> {
    const conn = new ZkConnection(opts);
    conn.#client.connect();
    try {
      await conn.ready();
    } catch (err) {
      conn.#shutdown();
      conn.#setState('closed');
      throw err;
    }
    return conn;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The session id as 16 hex digits (what a znode's ephemeralOwner holds). */
  get sessionId(): string {
    return this.#sessionId;
  }

  /** The session timeout the server granted. */
  get sessionTimeoutMs(): number {
    return this.#sessionTimeoutMs;
  }

  /** Calls `listener` on every state change; returns the unsubscribe function. */
  onState(listener: (state: ConnectionState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once connected; NOT_REACHABLE after `timeoutMs`; SessionLostError when final. */
  ready(timeoutMs = this.#opts.connectTimeoutMs): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    const finalError = this.#finalError();
    if (finalError) return Promise.reject(finalError);
    return new Promise((resolve, reject) => {
      // connectTimeoutMs is the caller's: any size is honoured.
      const timer = setLongTimeout(() => {
        unsubscribe();
        const where = this.#opts.servers.map(formatEndpoint).join(',');
        reject(new NotReachableError(`ZooKeeper at ${where} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = this.onState((state) => {
        if (state === 'connected') {
          timer.cancel();
          unsubscribe();
          resolve();
        } else if (state === 'expired' || state === 'closed') {
          timer.cancel();
          unsubscribe();
          reject(this.#finalError());
        }
      });
    });
  }

  getData(path: string, watcher?: ZkWatcher): Promise<{ data: Buffer | undefined; stat: ZkStat }> {
    return this.#call('getData', path, (done) =>
      this.#client.getData(path, watcher, (err, data, stat) => done(err, { data, stat })),
    );
  }

  /**
   * `getData` after a `sync` of the path, both sent at once: the server answers a session's
   * requests in order, so the read waits for the sync and sees every write committed before
   * the call (a linearizable read, up to ZooKeeper's own caveat on a deposed leader; see
   * docs/backends/zookeeper.md). One round trip to the leader more than a plain read, not two.
   */
  syncedGetData(path: string): Promise<{ data: Buffer | undefined; stat: ZkStat }> {
    const synced = this.sync(path);
    const read = this.getData(path);
    // The read fails too when the sync does; either rejection is the answer.
    return Promise.all([synced, read]).then(([, answer]) => answer);
  }

  /** Waits until the server this session talks to has caught up with the leader (opcode 9). */
  sync(path: string): Promise<void> {
    return this.#call('sync', path, (done) => sendSync(this.#client, path, (err) => done(err, undefined)));
  }

  exists(path: string, watcher?: ZkWatcher): Promise<ZkStat | null> {
    return this.#call('exists', path, (done) => this.#client.exists(path, watcher, done));
  }

  getChildren(path: string, watcher?: ZkWatcher): Promise<string[]> {
    return this.#call('getChildren', path, (done) =>
      this.#client.getChildren(path, watcher, (err, children) => done(err, children)),
    );
  }

  create(path: string, data: Buffer | undefined, mode: number): Promise<string> {
    return this.#call('create', path, (done) => this.#client.create(path, data, mode, done));
  }

  setData(path: string, data: Buffer, version: number): Promise<ZkStat> {
    return this.#call('setData', path, (done) => this.#client.setData(path, data, version, done));
  }

  remove(path: string, version: number): Promise<void> {
    return this.#call('remove', path, (done) =>
      this.#client.remove(path, version, (err) => done(err, undefined)),
    );
  }

  /** One atomic multi-op; rejects with the error of the first failing op. */
  multi(what: string, build: (tx: ZkTransaction) => ZkTransaction): Promise<ZkOpResult[]> {
    return this.#call('multi', what, (done) => build(this.#client.transaction()).commit(done));
  }

  /** Ends the session: its ephemeral znodes go at once. */
  async close(): Promise<void> {
    if (this.#dead) return;
    if (this.#state === 'connected') {
      // The server answers CLOSE_SESSION by closing the socket; wait for that, briefly.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.#closeWaiter?.(), CLOSE_WAIT_MS);
        this.#closeWaiter = () => {
          clearTimeout(timer);
          this.#closeWaiter = null;
          resolve();
        };
        this.#client.close();
      });
    }
    this.#shutdown();
    this.#failPending(new ClosedError());
    this.#setState('closed');
  }

  /**
   * Drops the connection without ending the session, as a crashed process would: the server
   * expires the session (and deletes its ephemeral znodes) after the session timeout.
   */
  abandon(): void {
    if (this.#dead) return;
    this.#shutdown();
    this.#failPending(new ClosedError());
    this.#setState('closed');
  }

  #call<T>(
    op: string,
    path: string,
    send: (done: (err: ZkException | null | undefined, value: T) => void) => void,
  ): Promise<T> {
    if (this.#state !== 'connected') return this.ready().then(() => this.#call(op, path, send));
    return new Promise<T>((resolve, reject) => {
      const request: PendingRequest = { bornTick: this.#tick, op, path, reject };
      this.#pending.add(request);
      try {
        send((err, value) => {
          if (!this.#pending.delete(request)) return; // settled already (timed out, or closed)
          if (err) reject(err);
          else resolve(value);
        });
      } catch (err) {
        // The client asserts on arguments synchronously.
        if (this.#pending.delete(request)) reject(err);
      }
    });
  }

  /**
   * One coarse timer per connection enforces request deadlines (to within a sweep), cheaper
   * than a timer per request on the hot path.
   */
  #sweep(): void {
    this.#tick++;
    const limit = Math.ceil(this.#opts.requestTimeoutMs / SWEEP_MS);
    for (const request of this.#pending) {
      if (this.#tick - request.bornTick <= limit) continue;
      this.#pending.delete(request);
      request.reject(
        new TimeoutError(
          `ZooKeeper ${request.op} ${request.path} took over ${this.#opts.requestTimeoutMs} ms`,
        ),
      );
    }
    // The client pings after a third of the session timeout of silence; a server that has not
    // answered for two thirds is gone (a dead peer may never close the socket). Dropping the
    // socket makes the client reconnect, to another server when there is one.
    // After a stall of this process (a starved machine, a long GC) what the server sent meanwhile
    // is still unread: timers run before I/O, so silence is judged on the next sweep, not now.
    const now = performance.now();
    const stalled = now - this.#lastSweepAt > SWEEP_MS * 3;
    this.#lastSweepAt = now;
    const silentMs = now - this.#lastHeard;
    if (!stalled && this.#state === 'connected' && silentMs > (this.#sessionTimeoutMs * 2) / 3) {
      this.#client.connectionManager.socket?.destroy();
    }
  }

  #onClientState(state: ZkState): void {
    if (this.#dead) return;
    if (this.#closeWaiter) {
      if (state === zookeeper.State.DISCONNECTED) this.#closeWaiter();
      return;
    }
    const { State } = zookeeper;
    if (state === State.SYNC_CONNECTED) {
      if (this.#lossTimer) clearTimeout(this.#lossTimer);
      this.#lossTimer = null;
      this.#sessionId = this.#client.getSessionId().toString('hex');
      this.#sessionTimeoutMs = this.#client.getSessionTimeout();
      this.#lastHeard = performance.now();
      this.#setState('connected');
    } else if (state === State.DISCONNECTED) {
      if (this.#state !== 'connected') return;
      // The server expires a silent session after its timeout; once that has passed without a
      // reconnect, treat the session as gone rather than wait to be told.
      this.#lossTimer = setTimeout(() => this.#expire(), this.#lossDelayMs());
      this.#lossTimer.unref();
      this.#setState('disconnected');
    } else if (state === State.EXPIRED || state === State.AUTH_FAILED) {
      this.#expire();
    }
  }

  /**
   * When to give the session up after a disconnect: the server expires it a session timeout
   * after it last heard from us, which was no later than we last heard from it; a tenth of
   * margin keeps a lock holder from believing in a lock the server has already freed.
   */
  #lossDelayMs(): number {
    const deadline = this.#lastHeard + this.#sessionTimeoutMs * 0.9;
    return Math.max(0, deadline - performance.now());
  }

  #expire(): void {
    if (this.#dead) return;
    this.#shutdown();
    this.#failPending(new SessionLostError(`ZooKeeper session ${this.#sessionId} expired`));
    this.#setState('expired');
  }

  #finalError(): Error | null {
    if (this.#state === 'expired')
      return new SessionLostError(`ZooKeeper session ${this.#sessionId} expired`);
    if (this.#state === 'closed') return new ClosedError('ZooKeeper connection is closed');
    return null;
  }

  #shutdown(): void {
    this.#dead = true;
    clearInterval(this.#sweeper);
    if (this.#lossTimer) clearTimeout(this.#lossTimer);
    this.#lossTimer = null;
    const manager = this.#client.connectionManager;
    if (manager.connectTimeoutHandler) clearTimeout(manager.connectTimeoutHandler);
    manager.socket?.destroy();
  }

  #failPending(err: Error): void {
    const requests = [...this.#pending];
    this.#pending.clear();
    for (const request of requests) request.reject(err);
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of [...this.#listeners]) listener(state);
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}
