import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Endpoint, formatEndpoint } from '../../store/endpoints.js';
import type { TlsOptions } from '../../store/types.js';

/**
 * One agent's HTTP API, spoken with Node's own client: a kept-alive socket pool, the ACL token
 * as a header, a deadline and an AbortSignal on every request. Errors are plain values built
 * here (never the request object, which holds the token header), so nothing secret can travel
 * up in a `cause`. Consul's API is a handful of REST calls; a general client library costs more
 * per request than the request's own work on the client (docs/backends/consul.md).
 */

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** The request never got an answer: refused, reset, TLS failure, deadline or abort. */
export class ConsulTransportError extends Error {
  /** Node's socket error code (ECONNREFUSED, ...), 'TIMEOUT' or 'ABORTED'. */
  readonly code: string;
  /** True when no byte of the request can have reached a server (it may go elsewhere). */
  readonly neverSent: boolean;
  constructor(message: string, code: string, neverSent: boolean) {
    super(message);
    this.name = 'ConsulTransportError';
    this.code = code;
    this.neverSent = neverSent;
  }
}

/** Socket failures that happen before a request reaches a server. */
const BEFORE_SENDING = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

export interface HttpOptions {
  secure: boolean;
  tls?: TlsOptions;
  token?: string;
}

/**
 * Sockets per agent: Consul refuses a client more than limits.http_max_conns_per_client (200)
 * connections, so calls queue for a socket beyond these. Blocking queries hold a socket for
 * their whole wait, so they get a pool of their own and never starve the other calls.
 */
const CALL_SOCKETS = 100;
const WATCH_SOCKETS = 90;

export class ConsulHttp {
  readonly #endpoint: Endpoint;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #watchAgent: HttpAgent | HttpsAgent;
  readonly #request: typeof httpRequest;
  readonly #headers: Record<string, string>;

  constructor(endpoint: Endpoint, options: HttpOptions) {
    this.#endpoint = endpoint;
    this.#agent = makeAgent(options.secure, options.tls, CALL_SOCKETS);
    this.#watchAgent = makeAgent(options.secure, options.tls, WATCH_SOCKETS);
    this.#request = options.secure ? httpsRequest : httpRequest;
    this.#headers = options.token ? { 'x-consul-token': options.token } : {};
  }

  get where(): string {
    return formatEndpoint(this.#endpoint);
  }

  /**
   * One request. Resolves with any HTTP answer (the caller reads the status); rejects with a
   * ConsulTransportError when none came within `timeoutMs` or `signal` aborted.
   */
  send(
    method: 'GET' | 'PUT' | 'DELETE',
    path: string,
    opts: { body?: Uint8Array | string; timeoutMs: number; signal?: AbortSignal; blocking?: boolean },
  ): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let connected = false;
      const body = opts.body;
      const headers =
        body === undefined
          ? this.#headers
          : { ...this.#headers, 'content-length': String(Buffer.byteLength(body)) };
      const req = this.#request({
        host: this.#endpoint.host,
        port: this.#endpoint.port,
        method,
        path,
        agent: opts.blocking ? this.#watchAgent : this.#agent,
        headers,
      });
      const fail = (err: ConsulTransportError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        req.destroy();
        reject(err);
      };
      const onAbort = () => fail(new ConsulTransportError(`consul ${method} aborted`, 'ABORTED', !connected));
      // The deadline is the caller's: one timer per request, cleared when it settles.
      const timer = setTimeout(
        () =>
          fail(
            new ConsulTransportError(
              `no answer from ${this.where} within ${opts.timeoutMs} ms`,
              'TIMEOUT',
              !connected,
            ),
          ),
        opts.timeoutMs,
      );
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('socket', (socket) => {
        // A reused socket is connected already; a new one once it connects.
        if (!socket.connecting) connected = true;
        else socket.once('connect', () => (connected = true));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'ERROR';
        fail(new ConsulTransportError(`${err.message}`, code, BEFORE_SENDING.has(code)));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err: NodeJS.ErrnoException) =>
          fail(new ConsulTransportError(err.message, err.code ?? 'ERROR', false)),
        );
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', onAbort);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      req.end(body);
    });
  }

  /** Closes every socket; requests in flight fail. */
  close(): void {
    this.#agent.destroy();
    this.#watchAgent.destroy();
  }
}

/** `/v1/kv/<key>` with each segment percent-encoded and the slashes kept. */
export function kvPath(key: string, query = ''): string {
  return `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}${query}`;
}

function makeAgent(secure: boolean, tls: TlsOptions | undefined, maxSockets: number): HttpAgent | HttpsAgent {
  if (!secure) return new HttpAgent({ keepAlive: true, maxSockets });
  return new HttpsAgent({
    keepAlive: true,
    maxSockets,
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
