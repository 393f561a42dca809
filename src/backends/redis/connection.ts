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
import { SendTicks } from './send-ticks.js';

// biome-ignore lint/complexity/noBannedTypes: node-redis's own type for a client with no modules
type Client = RedisClientType<{}, {}, {}, 3, typeof BUFFER_REPLIES>;

/** Receives the event name (`hset`, `del`, `expired`, ...) and the channel it came on. */
export type EventListener = (event: string, channel: string) => void;

/** Replies with bulk strings as Buffers: values are bytes. */
const BUFFER_REPLIES = { [RESP_TYPES.BLOB_STRING]: Buffer };

/** node-redis's command queue is bounded (a server that stops reading must not grow it forever). */
const MAX_QUEUED_COMMANDS = 100_000;

/** One node-redis client's calls in flight, for the deadline. */
interface Link {
  client: Client;
  sent: SendTicks;
  /** Given up on for leaving a call unanswered past the deadline: its calls fail with TIMEOUT. */
  timedOut: boolean;
  /** The shared success path (no closure per call). */
  settled: (value: unknown) => unknown;
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
  readonly #links = new Map<Client, Link>();
  readonly #sweeper: NodeJS.Timeout;
  #tick = 0;
  /** Sweeps a call may wait for its reply before its link is given up on. */
  readonly #deadlineTicks: number;

  private constructor(settings: RedisSettings) {
    this.#settings = settings;
    this.#secrets = [settings.password];
    this.#endpoint = settings.endpoints[0];
    const sweepMs = Math.max(10, Math.min(250, Math.floor(settings.requestTimeoutMs / 4)));
    this.#deadlineTicks = Math.ceil(settings.requestTimeoutMs / sweepMs);
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

  /**
   * Sends one command; replies come with bulk strings as Buffers. `op` and `key` name the call
   * in an error message (built only then).
   */
  send(args: RedisArgument[], op: string, key?: string): Promise<unknown> {
    const client = this.#client;
    if (!client) return Promise.reject(this.#notConnected(key === undefined ? op : `${op} ${key}`));
    return this.#deadline(client, client.sendCommand(args), op, key);
  }

  /** Runs a script by its SHA1, sending its source once when the server has not cached it. */
  script(
    script: RedisScript,
    keys: string[],
    args: RedisArgument[],
    op: string,
    key?: string,
  ): Promise<unknown> {
    const command: RedisArgument[] = ['EVALSHA', script.sha1, String(keys.length)];
    for (const k of keys) command.push(k);
    for (const a of args) command.push(a);
    return this.send(command, op, key).catch((err: unknown) => {
      if (replyCode((err as KVError).cause) !== 'NOSCRIPT') throw err;
      command[0] = 'EVAL';
      command[1] = script.source;
      return this.send(command, op, key);
    });
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
    for (const link of this.#links.values()) link.client.destroy(); // their calls fail CLOSED
    this.#links.clear();
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

  /**
   * A call with the deadline. Replies come in order, so the oldest call in flight is the one
   * that has waited longest: when it waited past the deadline, the sweep gives its link up
   * (destroying the client fails all its calls, mapped to TIMEOUT here) and reconnects, as a
   * connection that stopped answering must be replaced anyway.
   */
  #deadline<T>(client: Client, promise: Promise<T>, op: string, key?: string): Promise<T> {
    const link = this.#link(client);
    link.sent.push(this.#tick);
    return promise.then(link.settled as (value: T) => T, (err: unknown) => {
      link.settled(undefined);
      const what = key === undefined ? op : `${op} ${key}`;
      if (link.timedOut) {
        throw new TimeoutError(
          `redis at ${this.endpoint} did not answer ${what} within ${this.#settings.requestTimeoutMs} ms`,
          { cause: err },
        );
      }
      if (isConnectionError(err)) this.#lost(client);
      throw this.#error(err, `${what} at ${this.endpoint}`);
    });
  }

  #link(client: Client): Link {
    let link = this.#links.get(client);
    if (!link) {
      const sent = new SendTicks();
      link = {
        client,
        sent,
        timedOut: false,
        settled: (value) => {
          sent.shift();
          return value;
        },
      };
      this.#links.set(client, link);
    }
    return link;
  }

  /** Gives up the links whose oldest call waited past the deadline. */
  #sweep(): void {
    this.#tick++;
    for (const link of this.#links.values()) {
      const oldest = link.sent.oldest();
      if (oldest === undefined || this.#tick - oldest <= this.#deadlineTicks) continue;
      link.timedOut = true;
      this.#forget(link.client);
      if (this.#client === link.client) this.#lost(link.client);
      else link.client.destroy();
    }
  }

  #forget(client: Client): void {
    this.#links.delete(client);
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
    this.#forget(client);
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
          this.#forget(client);
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
      // Bulk strings as Buffers for every call, set once: options passed per call cost node-redis
      // a merge and a slower path each time (measured: ~2-3x the client CPU of a bare put).
      commandOptions: { timeout: 0, typeMapping: BUFFER_REPLIES },
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
        client.sendCommand(['ROLE']).catch((err) => {
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
      this.#forget(client);
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
