import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { encodeFrame, FrameReader } from '../../raft/runtime/frame-codec.js';
import { Backoff } from '../../store/backoff.js';
import { type Endpoint, formatEndpoint, parseEndpoint } from '../../store/endpoints.js';
import { ClosedError, KVError, NotReachableError, TimeoutError } from '../../store/errors.js';
import type { TlsOptions } from '../../store/types.js';
import type { ClientReply, ClientRequest, HelloResult } from './protocol.js';

type Pending = {
  request: ClientRequest;
  deadline: number;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
};

type Stream = {
  /** Builds the request to (re)send: resumes after the last revision seen. */
  request: (id: number) => ClientRequest;
  onReply: (reply: ClientReply) => void;
};

/** Errors that mean "try again (on another node)": the request may be retried as is. */
const RETRYABLE = new Set(['TIMEOUT', 'NOT_REACHABLE', 'NOT_LEADER']);
/** The largest reply accepted (a list of a large key space is one reply). */
const MAX_REPLY_FRAME_BYTES = 512 * 1024 * 1024;

/** Writes one request frame. */
function write(socket: Socket, request: ClientRequest): void {
  const [header, body] = encodeFrame(request);
  socket.write(header);
  socket.write(body);
}
type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
export type RequestBody = Distribute<ClientRequest>;

/**
 * One multiplexed connection to a kvkit Raft cluster that moves between nodes: on a broken
 * connection it reconnects (next endpoint, backoff), re-sends what was in flight (writes
 * carry a session sequence number, so that is safe) and resumes watch streams.
 */
export class ClusterConnection {
  readonly #endpoints: Endpoint[];
  readonly #tls: TlsOptions | undefined;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, Stream>();
  readonly #backoff = new Backoff({ initialMs: 50, maxMs: 1000 });
  #socket: Socket | null = null;
  #connecting: Promise<Socket> | null = null;
  #next = 0;
  #nextId = 0;
  /** The leader's client address, learned from the node we reached: tried first. */
  #leader: Endpoint | null = null;
  /** Where the current socket goes, and the id of the hello asking it who leads. */
  #current: Endpoint | null = null;
  #helloId = 0;
  /** A leader address we could not dial (advertised but not reachable from here): not followed again. */
  #unreachableLeader: string | null = null;
  #closed = false;
  #everConnected = false;
  /** The current connection has delivered at least one reply. */
  #answered = false;
  #lastError: unknown = null;

  constructor(endpoints: Endpoint[], opts: { tls?: TlsOptions; timeoutMs: number }) {
    this.#endpoints = endpoints;
    this.#tls = opts.tls;
    this.#timeoutMs = opts.timeoutMs;
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** Connects (trying every endpoint) within the timeout, or rejects with NOT_REACHABLE. */
  async open(): Promise<HelloResult> {
    return (await this.call({ op: 'hello' })) as HelloResult;
  }

  /** Sends a request; retries retryable failures on any node until the deadline. */
  call(body: RequestBody, timeoutMs = this.#timeoutMs, signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = ++this.#nextId;
    const request = { ...body, id } as ClientRequest;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#expire(id), timeoutMs);
      const onAbort = () => {
        if (!this.#pending.has(id)) return;
        this.#settle(id);
        if (this.#socket) write(this.#socket, { id: ++this.#nextId, op: 'cancel', target: id });
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          signal?.removeEventListener('abort', onAbort);
          fn(v);
        };
      this.#pending.set(id, {
        request,
        deadline: Date.now() + timeoutMs,
        resolve: done(resolve),
        reject: done(reject),
        timer,
      });
      void this.#send(request);
    });
  }

  /** Opens a stream (a watch); `build` makes the request to send on every (re)connection. */
  stream(build: (id: number) => ClientRequest, onReply: (reply: ClientReply) => void): () => void {
    const id = ++this.#nextId;
    this.#streams.set(id, { request: build, onReply });
    void this.#send(build(id));
    return () => {
      if (!this.#streams.delete(id)) return;
      if (this.#socket && !this.#closed)
        write(this.#socket, { id: ++this.#nextId, op: 'cancel', target: id });
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new ClosedError());
      this.#pending.delete(id);
    }
    this.#streams.clear();
    this.#socket?.destroy();
    this.#socket = null;
  }

  async #send(request: ClientRequest): Promise<void> {
    let socket: Socket;
    try {
      socket = await this.#connection();
    } catch {
      return; // #connection keeps retrying; pending requests are re-sent on connect.
    }
    if (this.#pending.has(request.id) || this.#streams.has(request.id)) write(socket, request);
  }

  #connection(): Promise<Socket> {
    if (this.#socket) return Promise.resolve(this.#socket);
    if (this.#closed) return Promise.reject(new ClosedError());
    this.#connecting ??= this.#connectLoop().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #connectLoop(): Promise<Socket> {
    for (;;) {
      if (this.#closed) throw new ClosedError();
      if (this.#pending.size === 0 && this.#streams.size === 0 && this.#everConnected) {
        throw new ClosedError('nothing to send');
      }
      const leader = this.#leader;
      this.#leader = null;
      const endpoint = leader ?? this.#endpoints[this.#next++ % this.#endpoints.length];
      try {
        const socket = await this.#dial(endpoint);
        this.#current = endpoint;
        if (this.#closed) {
          socket.destroy();
          throw new ClosedError();
        }
        this.#adopt(socket);
        return socket;
      } catch (err) {
        if (err instanceof ClosedError) throw err;
        if (leader) this.#unreachableLeader = formatEndpoint(leader);
        this.#lastError = err;
        if (this.#next % this.#endpoints.length === 0) await this.#backoff.wait();
      }
    }
  }

  #dial(endpoint: Endpoint): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const options = { host: endpoint.host, port: endpoint.port };
      const socket = this.#tls
        ? connectTls({
            ...options,
            ca: this.#tls.ca && Buffer.from(this.#tls.ca),
            cert: this.#tls.cert && Buffer.from(this.#tls.cert),
            key: this.#tls.key && Buffer.from(this.#tls.key),
            servername: this.#tls.servername,
            rejectUnauthorized: this.#tls.rejectUnauthorized ?? true,
          })
        : connectTcp(options);
      const timer = setTimeout(
        () => {
          socket.destroy();
          reject(new TimeoutError(`connect to ${formatEndpoint(endpoint)} timed out`));
        },
        Math.min(2000, this.#timeoutMs),
      );
      socket.once(this.#tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
    });
  }

  #adopt(socket: Socket): void {
    this.#socket = socket;
    this.#answered = false;
    this.#everConnected = true;
    this.#backoff.reset();
    socket.setNoDelay(true);
    const reader = new FrameReader(MAX_REPLY_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => {
      let replies: unknown[];
      try {
        replies = reader.push(chunk);
      } catch (err) {
        this.#lastError = err;
        socket.destroy();
        return;
      }
      for (const reply of replies) if (this.#socket === socket) this.#onReply(reply as ClientReply);
    });
    socket.on('error', (err) => {
      this.#lastError = err;
    });
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      // Move to another node and re-send everything still open.
      if (!this.#closed && (this.#pending.size > 0 || this.#streams.size > 0)) void this.#resendAll();
    });
    for (const pending of this.#pending.values()) write(socket, pending.request);
    for (const [id, stream] of this.#streams) write(socket, stream.request(id));
    // Follow the leader: writes sent to a follower cost one more hop.
    this.#helloId = ++this.#nextId;
    write(socket, { id: this.#helloId, op: 'hello' });
  }

  /** Moves to the leader when the node we reached names another one (in-flight work is re-sent). */
  #onHello(result: HelloResult): void {
    const leader = result.leaderClientAddr;
    if (
      !leader ||
      !this.#current ||
      leader === formatEndpoint(this.#current) ||
      leader === this.#unreachableLeader
    ) {
      return;
    }
    try {
      this.#leader = parseEndpoint(leader, 7101);
    } catch {
      return;
    }
    this.#socket?.destroy();
  }

  async #resendAll(): Promise<void> {
    try {
      await this.#connection();
    } catch {
      // Closed, or nothing left to send.
    }
  }

  #onReply(reply: ClientReply): void {
    this.#answered = true;
    if (reply.id === this.#helloId && 'ok' in reply) {
      if (reply.ok) this.#onHello(reply.result as HelloResult);
      return;
    }
    const stream = this.#streams.get(reply.id);
    if (stream) {
      if ('ok' in reply && reply.ok === false && RETRYABLE.has(reply.code)) {
        // The node could not serve the watch (lost quorum): try it on another node.
        this.#socket?.destroy();
        return;
      }
      stream.onReply(reply);
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (!pending || !('ok' in reply)) return;
    if (reply.ok) {
      this.#settle(reply.id);
      pending.resolve(reply.result);
      return;
    }
    if (RETRYABLE.has(reply.code) && Date.now() < pending.deadline - 50) {
      this.#lastError = new KVError(reply.code, reply.message);
      setTimeout(() => void this.#send(pending.request), 50).unref();
      return;
    }
    this.#settle(reply.id);
    pending.reject(new KVError(reply.code, reply.message));
  }

  #settle(id: number): void {
    const pending = this.#pending.get(id);
    if (pending) clearTimeout(pending.timer);
    this.#pending.delete(id);
  }

  #expire(id: number): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    const where = this.#endpoints.map(formatEndpoint).join(',');
    // A node answered on this connection and no retryable failure was seen: the cluster is slow,
    // not gone. A connection that never answered (a TLS refusal arrives after the handshake) is not.
    const slow =
      this.#socket !== null &&
      this.#answered &&
      !(this.#lastError instanceof KVError && RETRYABLE.has(this.#lastError.code));
    pending.reject(
      slow
        ? new TimeoutError(`raft://${where} did not answer ${pending.request.op} in time`, {
            cause: this.#lastError,
          })
        : new NotReachableError(`no quorum of raft://${where} answered in time`, { cause: this.#lastError }),
    );
  }
}
