import { Backoff } from '../../store/backoff.js';
import { ClosedError, NotReachableError } from '../../store/errors.js';
import { setLongTimeout } from '../../time/long-timeout.js';
import {
  type ConnectionOptions,
  type ConnectionState,
  SessionLostError,
  ZkConnection,
} from './connection.js';

/**
 * The store's own session, for reads, persistent writes and watches. It holds no ephemeral
 * znodes, so when it expires (say the server was down longer than its timeout) a new one
 * simply replaces it, and `onConnected` listeners re-arm their watches on it.
 */
export class MainSession {
  readonly #opts: ConnectionOptions;
  readonly #connectedListeners = new Set<() => void>();
  /** Called on every change (state, replacement, close): wakes connection() waiters. */
  readonly #changeListeners = new Set<() => void>();
  readonly #stopRenewal = new AbortController();
  #conn: ZkConnection;
  #renewal: Promise<void> | null = null;
  #closed = false;

  private constructor(opts: ConnectionOptions, conn: ZkConnection) {
    this.#opts = opts;
    this.#conn = conn;
    this.#watch(conn);
  }

  static async open(opts: ConnectionOptions): Promise<MainSession> {
    return new MainSession(opts, await ZkConnection.open(opts));
  }

  /** The connection when it is connected right now, else null. */
  get current(): ZkConnection | null {
    return this.#conn.state === 'connected' ? this.#conn : null;
  }

  get sessionTimeoutMs(): number {
    return this.#conn.sessionTimeoutMs;
  }

  /** A connected connection; NOT_REACHABLE when none comes within connectTimeoutMs. */
  connection(): Promise<ZkConnection> {
    const now = this.current;
    if (now) return Promise.resolve(now);
    if (this.#closed) return Promise.reject(new ClosedError());
    return new Promise((resolve, reject) => {
      const timer = setLongTimeout(() => {
        this.#changeListeners.delete(check);
        reject(new NotReachableError(`ZooKeeper did not answer within ${this.#opts.connectTimeoutMs} ms`));
      }, this.#opts.connectTimeoutMs);
      const check = () => {
        const conn = this.current;
        if (!conn && !this.#closed) return;
        timer.cancel();
        this.#changeListeners.delete(check);
        if (conn) resolve(conn);
        else reject(new ClosedError());
      };
      this.#changeListeners.add(check);
    });
  }

  /** Calls `listener` whenever the session (re)connects, including a replacement session. */
  onConnected(listener: () => void): () => void {
    this.#connectedListeners.add(listener);
    return () => this.#connectedListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopRenewal.abort();
    this.#notifyChange();
    await this.#renewal;
    await this.#conn.close();
  }

  #watch(conn: ZkConnection): void {
    conn.onState((state) => this.#onState(conn, state));
  }

  #onState(conn: ZkConnection, state: ConnectionState): void {
    if (conn !== this.#conn) return;
    if (state === 'expired' && !this.#closed) this.#renewal ??= this.#renew();
    this.#notifyChange();
    if (state === 'connected') this.#notifyConnected();
  }

  async #renew(): Promise<void> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
    try {
      while (!this.#closed) {
        try {
          const conn = await ZkConnection.open(this.#opts);
          if (this.#closed) {
            await conn.close();
            return;
          }
          this.#conn = conn;
          this.#watch(conn);
          this.#notifyChange();
          this.#notifyConnected();
          return;
        } catch {
          await backoff.wait(this.#stopRenewal.signal).catch(() => {});
        }
      }
    } finally {
      this.#renewal = null;
    }
  }

  #notifyChange(): void {
    for (const listener of [...this.#changeListeners]) listener();
  }

  #notifyConnected(): void {
    for (const listener of [...this.#connectedListeners]) listener();
  }
}

/** Session timeouts are requested in whole seconds, so TTLs share a few sessions. */
const SESSION_STEP_MS = 1000;
/** The protocol carries the requested timeout as a signed 32-bit number of ms. */
const MAX_REQUEST_MS = Math.floor((2 ** 31 - 1) / SESSION_STEP_MS) * SESSION_STEP_MS;

/**
 * Sessions that own ephemeral znodes (TTL keys and locks), one per session timeout. A TTL
 * key lives in a session whose timeout covers its TTL, so if this process dies the server
 * deletes the key once that timeout passes. The server grants at most its maxSessionTimeout
 * (40 s by default): once it has granted less than asked, every longer TTL shares that one
 * session instead of opening one per distinct TTL. An expired session is dropped; the next
 * caller gets a fresh one.
 */
export class EphemeralSessions {
  readonly #opts: ConnectionOptions;
  readonly #sessions = new Map<number, Promise<ZkConnection>>();
  readonly #open = new Set<ZkConnection>();
  /** The longest timeout asked for that the server granted in full, or MAX_REQUEST_MS. */
  #ceilingMs = MAX_REQUEST_MS;
  #closed = false;

  constructor(opts: ConnectionOptions) {
    this.#opts = opts;
  }

  /** A connected session whose timeout covers `ttlMs` (as far as the server allows). */
  async get(ttlMs: number): Promise<ZkConnection> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new ClosedError();
      const timeoutMs = Math.min(Math.ceil(ttlMs / SESSION_STEP_MS) * SESSION_STEP_MS, this.#ceilingMs);
      let session = this.#sessions.get(timeoutMs);
      if (!session) {
        session = this.#start(timeoutMs);
        this.#sessions.set(timeoutMs, session);
      }
      const conn = await session;
      if (conn.state === 'connected') return conn;
      try {
        await conn.ready();
        return conn;
      } catch (err) {
        // An expired session was dropped from the map: the next round opens a fresh one.
        if (!(err instanceof SessionLostError) || attempt > 0) throw err;
      }
    }
  }

  /**
   * Drops every session without ending it, as a crashed process would: the server deletes
   * their TTL keys and lock nodes once each session's timeout passes.
   */
  abandonAll(): void {
    this.#closed = true;
    for (const conn of this.#open) conn.abandon();
    this.#open.clear();
    this.#sessions.clear();
  }

  async #start(timeoutMs: number): Promise<ZkConnection> {
    let conn: ZkConnection;
    try {
      conn = await ZkConnection.open({ ...this.#opts, sessionTimeoutMs: timeoutMs });
    } catch (err) {
      this.#sessions.delete(timeoutMs);
      throw err;
    }
    if (this.#closed) {
      conn.abandon();
      throw new ClosedError();
    }
    this.#open.add(conn);
    // Granted less than asked: the server's maxSessionTimeout; longer requests share this one.
    if (conn.sessionTimeoutMs < timeoutMs) this.#ceilingMs = Math.min(this.#ceilingMs, timeoutMs);
    const session = this.#sessions.get(timeoutMs);
    conn.onState((state) => {
      if (state !== 'expired' && state !== 'closed') return;
      this.#open.delete(conn);
      if (this.#sessions.get(timeoutMs) === session) this.#sessions.delete(timeoutMs);
    });
    return conn;
  }
}
