import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import Consul from 'consul';
import { type Endpoint, formatEndpoint, parseEndpoints } from '../../store/endpoints.js';
import { NotReachableError } from '../../store/errors.js';
import { sleep } from '../../store/signals.js';
import type { TlsOptions } from '../../store/types.js';
import { bodyOf, isUnreachable, neverSent, statusOf, toKVError } from './consul-errors.js';
import { type RequestContext, RequestDeadlines } from './request-deadlines.js';

export const DEFAULT_CONSUL_PORT = 8500;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** One KV entry as Consul returns it. `Value` is base64 text (txn) or bytes (kv.get with buffer). */
export interface ConsulEntry {
  Key: string;
  Value: string | Uint8Array | null;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Flags: number;
  Session?: string;
}

/** One operation of `/v1/txn` (only KV operations are used). */
export interface TxnOp {
  KV: { Verb: string; Key: string; Value?: string; Flags?: number; Index?: number; Session?: string };
}

/** A transaction either applied (its results, in op order) or was rolled back by one op. */
export type TxnOutcome = { ok: true; results: ConsulEntry[] } | { ok: false; failedOp: number; what: string };

/** `consistent`: `?consistent` (leader confirms with a quorum); `stale`: any server; `default`: the leader. */
export type ReadMode = 'consistent' | 'stale' | 'default';

export interface BlockingRead {
  /** Entries found (empty when absent). */
  entries: ConsulEntry[];
  /** X-Consul-Index of the answer: pass it back to block until something changes. */
  index: number;
}

export interface ConnectionOptions {
  endpoints?: string[];
  token?: string;
  tls?: TlsOptions;
  connectTimeoutMs?: number;
}

interface TxnAnswer {
  Results?: { KV: ConsulEntry }[] | null;
  Errors?: { OpIndex: number; What: string }[] | null;
}

interface ResponseLike {
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The HTTP side of the Consul backend: one `consul` client per endpoint, fail-over between them,
 * a deadline on every call (connectTimeoutMs), cancellation by AbortSignal, and errors mapped
 * to the contract's codes. Writes move to another endpoint only when no server saw them.
 */
export class ConsulConnection {
  readonly #endpoints: Endpoint[];
  readonly #clients: Consul[];
  readonly #agents: (HttpAgent | HttpsAgent)[];
  readonly #timeoutMs: number;
  readonly #deadlines = new RequestDeadlines();
  #current = 0;

  constructor(options: ConnectionOptions) {
    this.#endpoints = parseEndpoints(options.endpoints, DEFAULT_CONSUL_PORT);
    this.#timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const secure =
      options.tls !== undefined || (options.endpoints ?? []).some((e) => /^https:\/\//i.test(e.trim()));
    this.#agents = this.#endpoints.map(() => makeAgent(secure, options.tls));
    this.#clients = this.#endpoints.map(
      (endpoint, i) =>
        new Consul({
          baseUrl: `${secure ? 'https' : 'http'}://${formatEndpoint(endpoint)}/v1`,
          agent: this.#agents[i],
          defaults: options.token ? { token: options.token } : undefined,
        } as ConstructorParameters<typeof Consul>[0]),
    );
  }

  /** `host:port` list, for messages. */
  describe(): string {
    return this.#endpoints.map(formatEndpoint).join(',');
  }

  /**
   * Resolves once some endpoint reports a Raft leader; NOT_REACHABLE when none does within the
   * connect timeout (server down, or up without a leader).
   */
  async waitForLeader(): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    let lastError: unknown;
    for (;;) {
      for (let i = 0; i < this.#clients.length; i++) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const request = this.#deadlines.start(left);
        try {
          const leader = (await this.#clients[i].status.leader({ ctx: request.ctx } as never)) as unknown;
          if (typeof leader === 'string' && leader !== '') {
            this.#current = i;
            return;
          }
          lastError = new Error('the server has no leader yet');
        } catch (err) {
          if (!request.expired && !isUnreachable(err)) throw toKVError(err, 'status/leader');
          lastError = request.expired ? new Error(`no answer within ${left} ms`) : err;
        } finally {
          request.end();
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(100, left));
    }
    throw new NotReachableError(
      `consul at ${this.describe()} did not answer with a leader within ${this.#timeoutMs} ms: ${describeError(lastError)}`,
      { cause: lastError },
    );
  }

  /** Reads one key (its entry, or null) or, with `recurse`, every key under a prefix (null when none). */
  async kvGet(
    path: string,
    opts: { recurse: boolean; mode: ReadMode },
  ): Promise<ConsulEntry[] | ConsulEntry | null> {
    const found = await this.#call('kv get', true, undefined, (client, ctx) =>
      client.kv.get({
        key: path,
        recurse: opts.recurse,
        buffer: true,
        ctx,
        consistent: opts.mode === 'consistent',
        stale: opts.mode === 'stale',
      } as never),
    );
    return (found ?? null) as ConsulEntry[] | ConsulEntry | null;
  }

  /**
   * A blocking query: answers when the data under `path` changes after `index`, or after `waitMs`
   * with the same index. `index` 0 answers at once. Aborts with `signal`.
   */
  async kvBlockingGet(
    path: string,
    opts: { recurse: boolean; index: number; waitMs: number; signal: AbortSignal },
  ): Promise<BlockingRead> {
    // Consul adds up to wait/16 of jitter before answering; the timeout leaves room for it.
    const timeoutMs = opts.waitMs + Math.ceil(opts.waitMs / 16) + this.#timeoutMs;
    const answer = await this.#call(
      'kv watch',
      true,
      opts.signal,
      (client, ctx) =>
        client.kv.get({
          key: path,
          recurse: opts.recurse,
          buffer: true,
          index: opts.index,
          wait: `${opts.waitMs}ms`,
          ctx,
        } as never) as unknown as Promise<[ResponseLike, unknown?]>,
      timeoutMs,
      true,
    );
    const [res, found] = answer;
    const header = res.headers['x-consul-index'];
    const index = Number(Array.isArray(header) ? header[0] : header);
    const entries = found === undefined || found === null ? [] : Array.isArray(found) ? found : [found];
    return { entries: entries as ConsulEntry[], index: Number.isFinite(index) ? index : 0 };
  }

  /**
   * Runs a transaction. A write is tried again (on another endpoint) only when no server saw it,
   * or when it is `repeatable` (applying it twice is the same as once). A rolled back
   * transaction is an outcome, not an error.
   */
  async txn(
    ops: TxnOp[],
    opts: { write: boolean; repeatable?: boolean; mode?: ReadMode },
  ): Promise<TxnOutcome> {
    const idempotent = !opts.write || opts.repeatable === true;
    const answer = (await this.#call('txn', idempotent, undefined, (client, ctx) =>
      client.transaction
        .create(ops as never, { ctx, ...modeQuery(opts.mode ?? 'default') } as never)
        // 409: rolled back by a failed check; the body says which op failed.
        .catch((err: unknown) => {
          if (statusOf(err) === 409 && (bodyOf(err) as TxnAnswer | undefined)?.Errors?.length)
            return bodyOf(err);
          throw err;
        }),
    )) as TxnAnswer;
    const failed = answer?.Errors?.[0];
    if (failed) return { ok: false, failedOp: failed.OpIndex, what: failed.What };
    return { ok: true, results: (answer?.Results ?? []).map((r) => r.KV) };
  }

  /** Creates a session and returns its ID. */
  async createSession(spec: {
    name: string;
    ttlMs: number;
    behavior: 'delete' | 'release';
  }): Promise<string> {
    const created = (await this.#call('session create', false, undefined, (client, ctx) =>
      client.session.create({
        name: spec.name,
        ttl: `${spec.ttlMs}ms`,
        behavior: spec.behavior,
        // No lock-delay: a key freed by an expired session may be taken at once.
        lockdelay: '0s',
        // No node health checks: the session lives and dies by its TTL alone.
        checks: [],
        ctx,
      } as never),
    )) as { ID: string };
    return created.ID;
  }

  /** Renews a session's TTL; false when the server no longer knows the session. */
  async renewSession(id: string): Promise<boolean> {
    return this.#call('session renew', true, undefined, (client, ctx) =>
      client.session.renew({ id, ctx } as never).then(
        () => true,
        (err: unknown) => {
          if (statusOf(err) === 404) return false;
          throw err;
        },
      ),
    );
  }

  /** Destroys a session: keys it holds are deleted (behavior `delete`) or released. */
  async destroySession(id: string): Promise<void> {
    await this.#call('session destroy', true, undefined, (client, ctx) =>
      client.session.destroy({ id, ctx } as never),
    );
  }

  /** Closes every socket; calls still running fail. */
  close(): void {
    this.#deadlines.close();
    for (const agent of this.#agents) agent.destroy();
  }

  /**
   * Runs `call` against the current endpoint, moving to the next one when it is unreachable
   * (reads always; writes only when no server saw them), all within one deadline.
   */
  async #call<T>(
    what: string,
    idempotent: boolean,
    signal: AbortSignal | undefined,
    call: (client: Consul, ctx: RequestContext) => Promise<T>,
    timeoutMs = this.#timeoutMs,
    includeResponse = false,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    // Idempotent calls get one more try: a kept-alive socket may turn out dead only when used.
    const attempts = this.#clients.length + (idempotent ? 1 : 0);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const i = (this.#current + attempt) % this.#clients.length;
      const left = deadline - Date.now();
      if (left <= 0) break;
      const request = this.#deadlines.start(left, signal, includeResponse);
      try {
        const result = await call(this.#clients[i], request.ctx);
        this.#current = i;
        return result;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (request.expired) {
          lastError = new Error(`no answer within ${left} ms`, { cause: err });
          // The server may have applied a write it did not answer in time: not repeated.
          if (!idempotent) break;
          continue;
        }
        if (!isUnreachable(err)) throw toKVError(err, what);
        lastError = err;
        if (!idempotent && !neverSent(err)) break;
      } finally {
        request.end();
      }
    }
    throw new NotReachableError(`consul ${what} at ${this.describe()}: ${describeError(lastError)}`, {
      cause: lastError,
    });
  }
}

function describeError(err: unknown): string {
  if (err === undefined) return 'no endpoint answered in time';
  return (err as Error)?.message ?? String(err);
}

function modeQuery(mode: ReadMode): { consistent?: boolean; stale?: boolean } {
  if (mode === 'consistent') return { consistent: true };
  if (mode === 'stale') return { stale: true };
  return {};
}

function makeAgent(secure: boolean, tls: TlsOptions | undefined): HttpAgent | HttpsAgent {
  if (!secure) return new HttpAgent({ keepAlive: true });
  return new HttpsAgent({
    keepAlive: true,
    ca: pem(tls?.ca),
    cert: pem(tls?.cert),
    key: pem(tls?.key),
    servername: tls?.servername,
    rejectUnauthorized: tls?.rejectUnauthorized ?? true,
  });
}

function pem(value: string | Uint8Array | undefined): string | Buffer | undefined {
  if (value === undefined || typeof value === 'string') return value;
  return Buffer.from(value);
}
