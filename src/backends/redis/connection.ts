import { createClient, RESP_TYPES, type RedisArgument, type RedisClientType } from '@redis/client';
import type { PubSubListener } from '@redis/client/dist/lib/client/pub-sub.js';
import { redactSecrets } from '../../secrets/redact.js';
import { Backoff } from '../../store/backoff.js';
import { type Endpoint, formatEndpoint } from '../../store/endpoints.js';
import { ClosedError, type KVError, NotReachableError, TimeoutError } from '../../store/errors.js';
import { withTimeout } from '../../store/signals.js';
import { ensureKeyspaceEvents } from './notifications.js';
import type { RedisSettings } from './options.js';
import { isConnectionError, replyCode, toKVError } from './redis-errors.js';
import type { RedisScript } from './scripts.js';

// biome-ignore lint/complexity/noBannedTypes: node-redis's own type for a client with no modules
type Client = RedisClientType<{}, {}, {}, 3, {}>;

/** Receives the event name (`hset`, `del`, `expired`, ...) and the channel it came on. */
export type EventListener = (event: string, channel: string) => void;

/** Replies with bulk strings as Buffers: values are bytes. */
const AS_BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/** node-redis's command queue is bounded (a server that stops reading must not grow it forever). */
const MAX_QUEUED_COMMANDS = 100_000;

interface Pending {
  /** performance.now() after which the call gives TIMEOUT. */
  deadline: number;
  client: Client;
  what: string;
  reject: (err: unknown) => void;
}

interface Subscription {
  listeners: Set<EventListener>;
  /** The one node-redis listener, which hands each event to `listeners`. */
  handler: EventListener;
  pattern: boolean;
  /** Settles once the server confirmed the subscription on the current client. */
  ready: Promise<void>;
}

/**
 * One connection to a Redis primary, through node-redis with RESP3 (commands and keyspace
 * subscriptions share the socket). It owns what node-redis leaves to its caller here:
 * - a deadline on every command, also once written (node-redis's own timeout stops at the
 *   write): an unanswered call gives TIMEOUT and replaces the connection, since a server that
 *   answers nothing for that long is gone (SIGSTOP, a cut network);
 * - reconnecting with backoff, trying the endpoints in turn and keeping only a primary
 *   (`ROLE`), so `redis://a:6379,b:6379` follows a failover;
 * - the subscriptions, made again on every new connection, then the resync callbacks, which
 *   re-read what they watch: notifications missed while disconnected are never relied on.
 * Calls made while no connection is up fail at once with NOT_REACHABLE (no offline queue).
 */
export class RedisConnection {
  readonly #settings: RedisSettings;
  readonly #secrets: (string | undefined)[];
  #client: Client | null = null;
  #endpoint: Endpoint;
  #next = 0;
  #closed = false;
  readonly #closing = new AbortController();
  readonly #channels = new Map<string, Subscription>();
  readonly #patterns = new Map<string, Subscription>();
  readonly #resyncs = new Set<() => void>();
  readonly #pending = new Set<Pending>();
  readonly #sweeper: NodeJS.Timeout;

  private constructor(settings: RedisSettings) {
    this.#settings = settings;
    this.#secrets = [settings.password];
    this.#endpoint = settings.endpoints[0];
    const sweepMs = Math.max(10, Math.min(250, Math.floor(settings.requestTimeoutMs / 4)));
    this.#sweeper = setInterval(() => this.#sweep(), sweepMs);
    this.#sweeper.unref();
  }

  /** Connects to the first primary that answers; NOT_REACHABLE when none does within connectTimeoutMs. */
  static async open(settings: RedisSettings): Promise<RedisConnection> {
    const conn = new RedisConnection(settings);
    try {
      conn.#install(await conn.#connectWithin(settings.connectTimeoutMs));
    } catch (err) {
      conn.close();
      throw err;
    }
    return conn;
  }

  /** `host:port` of the server in use (or last tried). */
  get endpoint(): string {
    return formatEndpoint(this.#endpoint);
  }

  /** Sends one command; replies come with bulk strings as Buffers. */
  send(args: RedisArgument[], what: string): Promise<unknown> {
    const client = this.#client;
    if (!client) return Promise.reject(this.#notConnected(what));
    return this.#deadline(client, client.sendCommand(args, AS_BUFFERS), what);
  }

  /** Runs a script by its SHA1, sending its source once when the server has not cached it. */
  async script(script: RedisScript, keys: string[], args: RedisArgument[], what: string): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.send(['EVALSHA', script.sha1, ...tail], what);
    } catch (err) {
      if (replyCode((err as KVError).cause) !== 'NOSCRIPT') throw err;
      return this.send(['EVAL', script.source, ...tail], what);
    }
  }

  /** Subscribes to a channel; resolves once the server confirmed. Returns the unsubscribe. */
  subscribe(channel: string, listener: EventListener): Promise<() => void> {
    return this.#subscribe(this.#channels, channel, listener, false);
  }

  /** Subscribes to a channel pattern (PSUBSCRIBE); resolves once the server confirmed. */
  psubscribe(pattern: string, listener: EventListener): Promise<() => void> {
    return this.#subscribe(this.#patterns, pattern, listener, true);
  }

  /** Calls `fn` after every reconnection, once the subscriptions are back. Returns the removal. */
  onResync(fn: () => void): () => void {
    this.#resyncs.add(fn);
    return () => this.#resyncs.delete(fn);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new ClosedError());
    clearInterval(this.#sweeper);
    for (const pending of this.#pending) pending.reject(new ClosedError());
    this.#pending.clear();
    const client = this.#client;
    this.#client = null;
    client?.destroy();
  }

  async #subscribe(
    table: Map<string, Subscription>,
    name: string,
    listener: EventListener,
    pattern: boolean,
  ): Promise<() => void> {
    let sub = table.get(name);
    if (!sub) {
      const client = this.#client;
      if (!client) throw this.#notConnected('subscribe');
      const listeners = new Set<EventListener>();
      const handler = (event: string, channel: string) => {
        for (const each of listeners) each(event, channel);
      };
      const created: Subscription = { listeners, handler, pattern, ready: Promise.resolve() };
      created.ready = this.#serverSubscribe(client, name, created);
      created.ready.catch(() => {
        if (table.get(name) === created && created.listeners.size === 0) table.delete(name);
      });
      table.set(name, created);
      sub = created;
    }
    sub.listeners.add(listener);
    try {
      await sub.ready;
    } catch (err) {
      sub.listeners.delete(listener);
      throw err;
    }
    const subscribed = sub;
    return () => {
      subscribed.listeners.delete(listener);
      if (subscribed.listeners.size > 0 || table.get(name) !== subscribed) return;
      table.delete(name);
      const client = this.#client;
      if (!client) return;
      const handler = subscribed.handler as PubSubListener;
      const done = pattern ? client.pUnsubscribe(name, handler) : client.unsubscribe(name, handler);
      done.catch(() => {}); // a connection that went takes its subscriptions with it
    };
  }

  async #serverSubscribe(client: Client, name: string, sub: Subscription): Promise<void> {
    await this.#deadline(
      client,
      ensureKeyspaceEvents(client, (args) => client.sendCommand(args)),
      'subscribe',
    );
    const handler = sub.handler as PubSubListener;
    const subscribed = sub.pattern ? client.pSubscribe(name, handler) : client.subscribe(name, handler);
    await this.#deadline(client, subscribed, `subscribe ${name}`);
  }

  #deadline<T>(client: Client, promise: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        deadline: performance.now() + this.#settings.requestTimeoutMs,
        client,
        what,
        reject,
      };
      this.#pending.add(pending);
      promise.then(
        (value) => {
          if (this.#pending.delete(pending)) resolve(value);
        },
        (err) => {
          if (!this.#pending.delete(pending)) return;
          if (isConnectionError(err)) this.#lost(client);
          reject(this.#error(err, `${what} at ${this.endpoint}`));
        },
      );
    });
  }

  /** Fails the calls past their deadline; a connection that answered none of them is replaced. */
  #sweep(): void {
    const now = performance.now();
    const stuck = new Set<Client>();
    // All calls share one timeout, so insertion order is deadline order.
    for (const pending of this.#pending) {
      if (pending.deadline > now) break;
      this.#pending.delete(pending);
      stuck.add(pending.client);
      pending.reject(
        new TimeoutError(
          `redis at ${this.endpoint} did not answer ${pending.what} within ${this.#settings.requestTimeoutMs} ms`,
        ),
      );
    }
    for (const client of stuck) this.#lost(client);
  }

  #install(client: Client): void {
    this.#client = client;
    const lost = () => this.#lost(client);
    client.on('terminated', lost);
    client.on('end', lost);
  }

  /** The client went (or is given up on): drop it and reconnect in the background. */
  #lost(client: Client): void {
    if (this.#client !== client) return;
    this.#client = null;
    client.destroy();
    if (this.#closed) return;
    void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    const backoff = new Backoff({ initialMs: 50, maxMs: 1000 });
    while (!this.#closed) {
      try {
        const client = await this.#connectWithin(this.#settings.connectTimeoutMs);
        try {
          for (const table of [this.#channels, this.#patterns]) {
            for (const [name, sub] of table) await this.#serverSubscribe(client, name, sub);
          }
        } catch (err) {
          client.destroy();
          throw err;
        }
        if (this.#closed) {
          client.destroy();
          return;
        }
        this.#install(client);
        for (const resync of this.#resyncs) resync();
        return;
      } catch {
        // Still down (or refusing): wait and try again until closed.
      }
      try {
        await backoff.wait(this.#closing.signal);
      } catch {
        return;
      }
    }
  }

  /** Tries the endpoints in turn until a primary answers, or the time is up. */
  async #connectWithin(timeoutMs: number): Promise<Client> {
    const deadline = performance.now() + timeoutMs;
    const backoff = new Backoff({ initialMs: 50, maxMs: 500 });
    let lastError: unknown;
    for (;;) {
      for (let tried = 0; tried < this.#settings.endpoints.length; tried++) {
        const left = deadline - performance.now();
        if (left <= 0 || this.#closed) break;
        const endpoint = this.#settings.endpoints[this.#next];
        try {
          const client = await this.#connectTo(endpoint, left);
          this.#endpoint = endpoint;
          return client;
        } catch (err) {
          lastError = err;
          // Wrong credentials will not get better by retrying.
          if ((err as KVError).code === 'PERMISSION_DENIED') throw err;
          this.#next = (this.#next + 1) % this.#settings.endpoints.length;
        }
      }
      if (this.#closed) throw new ClosedError();
      const left = deadline - performance.now();
      if (left <= 0) break;
      await backoff.wait(this.#closing.signal).catch(() => {});
    }
    const where = this.#settings.endpoints.map(formatEndpoint).join(', ');
    const detail = lastError instanceof Error ? lastError.message : `no answer within ${timeoutMs} ms`;
    throw new NotReachableError(this.#redact(`cannot reach a redis primary at ${where}: ${detail}`), {
      cause: lastError,
    });
  }

  async #connectTo(endpoint: Endpoint, timeoutMs: number): Promise<Client> {
    const { tls, username, password } = this.#settings;
    const socket = {
      host: endpoint.host,
      port: endpoint.port,
      connectTimeout: Math.max(1, Math.ceil(timeoutMs)),
      reconnectStrategy: false as const,
      noDelay: true,
      keepAlive: true,
    };
    const client = createClient({
      RESP: 3,
      socket: tls
        ? {
            ...socket,
            tls: true as const,
            ...(tls.ca === undefined ? {} : { ca: Buffer.from(tls.ca) }),
            ...(tls.cert === undefined ? {} : { cert: Buffer.from(tls.cert) }),
            ...(tls.key === undefined ? {} : { key: Buffer.from(tls.key) }),
            ...(tls.servername === undefined ? {} : { servername: tls.servername }),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
          }
        : socket,
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      disableOfflineQueue: true,
      // Our own deadline covers every call, also once written; node-redis's default (an
      // AbortSignal.timeout per command, only until written) would cost a timer per call.
      commandOptions: { timeout: 0 },
      disableClientInfo: true,
      maintNotifications: 'disabled',
      commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
    });
    // node-redis reports socket trouble as 'error' events; they reach us as rejected calls
    // and 'terminated', and an unheard 'error' would crash the process.
    client.on('error', () => {});
    const what = `connect to ${formatEndpoint(endpoint)}`;
    try {
      await withTimeout(client.connect(), timeoutMs, `redis at ${formatEndpoint(endpoint)}`);
      const role = await withTimeout(
        client.sendCommand(['ROLE'], AS_BUFFERS).catch((err) => {
          // A user may be denied ROLE; it can still work on a primary.
          if (replyCode(err) === 'NOPERM' || replyCode(err) === 'ERR') return null;
          throw err;
        }),
        timeoutMs,
        `redis at ${formatEndpoint(endpoint)}`,
      );
      if (Array.isArray(role) && String(role[0]) !== 'master') {
        throw new NotReachableError(
          `redis at ${formatEndpoint(endpoint)} is a ${String(role[0])}, not a primary`,
        );
      }
      return client;
    } catch (err) {
      client.destroy();
      throw this.#error(err, what);
    }
  }

  #notConnected(what: string): KVError {
    if (this.#closed) return new ClosedError();
    return new NotReachableError(`redis at ${this.endpoint} is not connected (${what}); reconnecting`);
  }

  #error(err: unknown, what: string): KVError {
    if (this.#closed) return new ClosedError();
    return toKVError(err, what, (text) => this.#redact(text));
  }

  #redact(text: string): string {
    return redactSecrets(text, this.#secrets);
  }
}
