import { redactSecrets } from '../../secrets/redact.js';
import { parseEndpoints } from '../../store/endpoints.js';
import { NotReachableError } from '../../store/errors.js';
import { sleep } from '../../store/signals.js';
import type { TlsOptions } from '../../store/types.js';
import { answerError, isNoLeader, isUnavailable } from './consul-errors.js';
import { ConsulHttp, ConsulTransportError, type HttpAnswer, kvPath } from './http.js';

export const DEFAULT_CONSUL_PORT = 8500;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** One KV entry as Consul returns it. `Value` is base64 text, or null for an empty value. */
export interface ConsulEntry {
  Key: string;
  Value: string | null;
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

/** How a plain `PUT /v1/kv/<key>` writes. */
export interface KvPutMode {
  /** Only if the key's ModifyIndex is this (0: only if absent). */
  cas?: number;
  /** Write and acquire the key for this session (fails while another session holds it). */
  acquire?: string;
  /** Write and release the key, only if this session holds it. */
  release?: string;
  flags: number;
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

type Call = (http: ConsulHttp, timeoutMs: number) => Promise<HttpAnswer>;

/**
 * The HTTP side of the Consul backend: one client per endpoint, fail-over between them, a
 * deadline on every call (connectTimeoutMs), cancellation by AbortSignal, and answers mapped to
 * the contract's codes. A read moves to another endpoint whenever one fails; a write only when
 * no server can have seen it (refused before sending, or no leader), since a second copy of a
 * write that did apply could land after another client's write and undo it.
 */
export class ConsulConnection {
  readonly #clients: ConsulHttp[];
  readonly #timeoutMs: number;
  readonly #secrets: string[];
  #current = 0;

  constructor(options: ConnectionOptions) {
    const endpoints = parseEndpoints(options.endpoints, DEFAULT_CONSUL_PORT);
    this.#timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const secure =
      options.tls !== undefined || (options.endpoints ?? []).some((e) => /^https:\/\//i.test(e.trim()));
    this.#clients = endpoints.map(
      (endpoint) => new ConsulHttp(endpoint, { secure, tls: options.tls, token: options.token }),
    );
    this.#secrets = options.token ? [options.token] : [];
  }

  /** `host:port` list, for messages. */
  describe(): string {
    return this.#clients.map((c) => c.where).join(',');
  }

  /**
   * Resolves once some endpoint reports a Raft leader; NOT_REACHABLE when none does within the
   * connect timeout (server down, or up without a leader).
   */
  async waitForLeader(): Promise<void> {
    const deadline = Date.now() + this.#timeoutMs;
    let last = 'no endpoint answered in time';
    for (;;) {
      for (let i = 0; i < this.#clients.length; i++) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        try {
          const answer = await this.#clients[i].send('GET', '/v1/status/leader', { timeoutMs: left });
          if (answer.status === 200) {
            const leader = JSON.parse(answer.body.toString('utf8')) as unknown;
            if (typeof leader === 'string' && leader !== '') {
              this.#current = i;
              return;
            }
            last = 'the server has no leader yet';
          } else if (isUnavailable(answer)) {
            last = `HTTP ${answer.status}`;
          } else {
            throw answerError(answer, 'status/leader', this.#cleaner);
          }
        } catch (err) {
          if (!(err instanceof ConsulTransportError)) throw err;
          last = err.message;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(100, left));
    }
    throw new NotReachableError(
      this.#clean(
        `consul at ${this.describe()} did not answer with a leader within ${this.#timeoutMs} ms: ${last}`,
      ),
    );
  }

  /** Reads one key (its entry, or null) or, with `recurse`, every key under a prefix ([] when none). */
  async kvGet(key: string, opts: { recurse: false; mode: ReadMode }): Promise<ConsulEntry | null>;
  async kvGet(key: string, opts: { recurse: true; mode: ReadMode }): Promise<ConsulEntry[]>;
  async kvGet(
    key: string,
    opts: { recurse: boolean; mode: ReadMode },
  ): Promise<ConsulEntry[] | ConsulEntry | null> {
    const query = [opts.recurse ? 'recurse' : '', modeQuery(opts.mode)].filter(Boolean).join('&');
    const answer = await this.#call('kv get', false, undefined, (http, timeoutMs) =>
      http.send('GET', kvPath(key, query ? `?${query}` : ''), { timeoutMs }),
    );
    if (answer.status === 404) return opts.recurse ? [] : null;
    if (answer.status !== 200) throw answerError(answer, 'kv get', this.#cleaner);
    const entries = JSON.parse(answer.body.toString('utf8')) as ConsulEntry[];
    return opts.recurse ? entries : (entries[0] ?? null);
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
    const query = `?${opts.recurse ? 'recurse&' : ''}index=${opts.index}&wait=${opts.waitMs}ms`;
    const answer = await this.#call(
      'kv watch',
      false,
      opts.signal,
      (http, left) =>
        http.send('GET', kvPath(path, query), { timeoutMs: left, signal: opts.signal, blocking: true }),
      timeoutMs,
    );
    if (answer.status !== 200 && answer.status !== 404) throw answerError(answer, 'kv watch', this.#cleaner);
    const header = answer.headers['x-consul-index'];
    const index = Number(Array.isArray(header) ? header[0] : header);
    const entries = answer.status === 404 ? [] : (JSON.parse(answer.body.toString('utf8')) as ConsulEntry[]);
    return { entries, index: Number.isFinite(index) ? index : 0 };
  }

  /**
   * `PUT /v1/kv/<key>` with the raw value as the body: true when written, false when its
   * condition (`cas`, `acquire`, `release`) did not hold.
   */
  async kvPut(key: string, value: Uint8Array, mode: KvPutMode): Promise<boolean> {
    const query = [`flags=${mode.flags}`];
    if (mode.cas !== undefined) query.push(`cas=${mode.cas}`);
    if (mode.acquire !== undefined) query.push(`acquire=${mode.acquire}`);
    if (mode.release !== undefined) query.push(`release=${mode.release}`);
    const answer = await this.#call('kv put', true, undefined, (http, timeoutMs) =>
      http.send('PUT', kvPath(key, `?${query.join('&')}`), { body: value, timeoutMs }),
    );
    if (answer.status !== 200) throw answerError(answer, 'kv put', this.#cleaner);
    return answer.body.toString('utf8').trim() === 'true';
  }

  /** `DELETE /v1/kv/<key>` (`recurse`: the whole tree under it); false when `cas` did not hold. */
  async kvDelete(key: string, mode: { recurse?: boolean; cas?: number } = {}): Promise<boolean> {
    const query = mode.recurse ? '?recurse' : mode.cas !== undefined ? `?cas=${mode.cas}` : '';
    const answer = await this.#call('kv delete', true, undefined, (http, timeoutMs) =>
      http.send('DELETE', kvPath(key, query), { timeoutMs }),
    );
    if (answer.status !== 200) throw answerError(answer, 'kv delete', this.#cleaner);
    return answer.body.toString('utf8').trim() === 'true';
  }

  /** Runs a transaction. A rolled back transaction is an outcome, not an error. */
  async txn(ops: TxnOp[], opts: { write: boolean; mode?: ReadMode }): Promise<TxnOutcome> {
    const query = modeQuery(opts.mode ?? 'default');
    const body = JSON.stringify(ops);
    const answer = await this.#call('txn', opts.write, undefined, (http, timeoutMs) =>
      http.send('PUT', `/v1/txn${query ? `?${query}` : ''}`, { body, timeoutMs }),
    );
    // 409: rolled back by a failed check; the body says which op failed.
    if (answer.status !== 200 && answer.status !== 409) throw answerError(answer, 'txn', this.#cleaner);
    const parsed = JSON.parse(answer.body.toString('utf8')) as TxnAnswer;
    const failed = parsed?.Errors?.[0];
    if (failed) return { ok: false, failedOp: failed.OpIndex, what: failed.What };
    if (answer.status === 409) throw answerError(answer, 'txn', this.#cleaner);
    return { ok: true, results: (parsed?.Results ?? []).map((r) => r.KV) };
  }

  /** Creates a session and returns its ID. */
  async createSession(spec: {
    name: string;
    ttlMs: number;
    behavior: 'delete' | 'release';
  }): Promise<string> {
    const body = JSON.stringify({
      Name: spec.name,
      TTL: `${Math.ceil(spec.ttlMs)}ms`,
      Behavior: spec.behavior,
      // No lock-delay: a key freed by an expired session may be taken at once.
      LockDelay: '0s',
      // No node health checks: the session lives and dies by its TTL alone.
      Checks: [],
    });
    const answer = await this.#call('session create', true, undefined, (http, timeoutMs) =>
      http.send('PUT', '/v1/session/create', { body, timeoutMs }),
    );
    if (answer.status !== 200) throw answerError(answer, 'session create', this.#cleaner);
    return (JSON.parse(answer.body.toString('utf8')) as { ID: string }).ID;
  }

  /** Renews a session's TTL; false when the server no longer knows the session. */
  async renewSession(id: string): Promise<boolean> {
    // Renewing twice is renewing: safe to repeat.
    const answer = await this.#call('session renew', false, undefined, (http, timeoutMs) =>
      http.send('PUT', `/v1/session/renew/${encodeURIComponent(id)}`, { timeoutMs }),
    );
    if (answer.status === 404) return false;
    if (answer.status !== 200) throw answerError(answer, 'session renew', this.#cleaner);
    const renewed = JSON.parse(answer.body.toString('utf8')) as unknown[] | null;
    return Array.isArray(renewed) && renewed.length > 0;
  }

  /** Destroys a session: keys it holds are deleted (behavior `delete`) or released. */
  async destroySession(id: string): Promise<void> {
    // Destroying twice is destroying: safe to repeat.
    const answer = await this.#call('session destroy', false, undefined, (http, timeoutMs) =>
      http.send('PUT', `/v1/session/destroy/${encodeURIComponent(id)}`, { timeoutMs }),
    );
    if (answer.status !== 200) throw answerError(answer, 'session destroy', this.#cleaner);
  }

  /** Closes every socket; calls still running fail. */
  close(): void {
    for (const client of this.#clients) client.close();
  }

  /**
   * Sends `call` to the current endpoint, moving on to the next one when it is unreachable or
   * has no leader, all within one deadline. `write`: move on only when no server can have seen
   * the request. Resolves with any other answer (the caller reads its status).
   */
  async #call(
    what: string,
    write: boolean,
    signal: AbortSignal | undefined,
    call: Call,
    timeoutMs = this.#timeoutMs,
  ): Promise<HttpAnswer> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no endpoint answered in time';
    // Reads get one more try: a kept-alive socket may turn out dead only when used.
    const attempts = this.#clients.length + (write ? 0 : 1);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const i = (this.#current + attempt) % this.#clients.length;
      const left = deadline - Date.now();
      if (left <= 0) break;
      let answer: HttpAnswer;
      try {
        answer = await call(this.#clients[i], left);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (!(err instanceof ConsulTransportError)) throw err;
        last = err.message;
        if (write && !err.neverSent) {
          throw new NotReachableError(
            this.#clean(`consul ${what} at ${this.#clients[i].where}: ${last}; its outcome is unknown`),
          );
        }
        continue;
      }
      if (!isUnavailable(answer)) {
        this.#current = i;
        return answer;
      }
      last = `HTTP ${answer.status} ${answer.body.toString('utf8').trim().slice(0, 200)}`;
      if (write && !isNoLeader(answer)) {
        throw new NotReachableError(this.#clean(`consul ${what}: ${last}; its outcome is unknown`));
      }
    }
    throw new NotReachableError(this.#clean(`consul ${what} at ${this.describe()}: ${last}`));
  }

  #clean(message: string): string {
    return redactSecrets(message, this.#secrets);
  }

  readonly #cleaner = (text: string) => this.#clean(text);
}

function modeQuery(mode: ReadMode): string {
  if (mode === 'consistent') return 'consistent';
  if (mode === 'stale') return 'stale';
  return '';
}
