import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  type ClientReply,
  type ClientRequest,
  clientFrameLimit,
  type HelloResult,
} from '../backends/raft/protocol.js';
import type { KvEvent, KvStateMachine } from '../raft/kv/index.js';
import type { Replica, ReplicaMember, ReplicaStatus } from '../raft/replica.js';
import { encodeFrame, FrameReader } from '../raft/runtime/frame-codec.js';
import { parseEndpoint } from '../store/endpoints.js';
import { KVError } from '../store/errors.js';
import { isUnder } from '../store/keys.js';
import { MAX_VALUE_BYTES } from '../store/limits.js';
import { waitForLockHolder } from './lock-wait.js';
import { checkClientRequest, type RequestLimits, requestIdOf } from './request-check.js';

/** The cluster operations the client port exposes (implemented by the node). */
export interface ClusterAdminApi {
  status(): ReplicaStatus;
  members(): ReplicaMember[];
  addMember(member: { id: string; peerAddr: string; clientAddr: string | null }): Promise<void>;
  removeMember(id: string): Promise<void>;
}

export interface ClientServerOptions {
  replica: Replica;
  sm: KvStateMachine;
  admin: ClusterAdminApi;
  /** host:port to listen on (port 0: any free port). */
  listen: string;
  /** Mutual TLS: clients must present a certificate signed by `ca`. */
  tls?: { ca: string | Uint8Array; cert: string | Uint8Array; key: string | Uint8Array };
  /** The largest value a write may carry (VALUE_TOO_LARGE above). Default MAX_VALUE_BYTES (1 MiB). */
  maxValueBytes?: number;
  log?: (line: string) => void;
}

/** Requests in progress (and watches) one connection may hold; past it, the client is dropped. */
const MAX_REQUESTS_PER_CONNECTION = 4096;
/** Replies a client has not read; past it (a client that stopped reading), it is dropped. */
const MAX_UNREAD_REPLY_BYTES = 64 * 1024 * 1024;

export interface ClientServer extends AsyncDisposable {
  /** host:port actually bound. */
  address: string;
  /** Client connections open now (metrics). */
  readonly connections: number;
  close(): Promise<void>;
}

/** Serves `raft://` clients on a node: proposals, linearizable reads, resumable watches, admin. */
export async function startClientServer(options: ClientServerOptions): Promise<ClientServer> {
  const { host, port } = parseEndpoint(options.listen, 7101, { listening: true });
  const sockets = new Set<Socket>();
  const limits: RequestLimits = { maxValueBytes: options.maxValueBytes ?? MAX_VALUE_BYTES };
  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    const session = new ClientSession(socket, options, limits);
    socket.on('close', () => {
      sockets.delete(socket);
      session.close();
    });
  };
  const server: Server = options.tls
    ? createTlsServer(
        {
          ca: toPem(options.tls.ca),
          cert: toPem(options.tls.cert),
          key: toPem(options.tls.key),
          requestCert: true,
          rejectUnauthorized: true,
        },
        onSocket,
      )
    : createTcpServer(onSocket);
  server.on('tlsClientError', (err) => options.log?.(`client refused: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        new KVError(
          'INVALID_ARGUMENT',
          err.code === 'EADDRINUSE'
            ? `client address ${options.listen} is already in use`
            : `cannot listen on ${options.listen}: ${err.message}`,
          { cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      // Later errors (an accept failing with EMFILE, say) are logged: without a listener an
      // 'error' on the server would end the process.
      server.on('error', (err) => options.log?.(`client listener error: ${err.message}`));
      resolve();
    });
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? `${host}:${bound.port}` : options.listen;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return {
    address,
    get connections() {
      return sockets.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function toPem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value);
}

/** One client connection: requests in, replies and watch streams out. */
class ClientSession {
  readonly #socket: Socket;
  readonly #options: ClientServerOptions;
  readonly #limits: RequestLimits;
  readonly #watches = new Map<number, () => void>();
  readonly #aborts = new Map<number, AbortController>();
  readonly #remote: string;
  #closed = false;

  constructor(socket: Socket, options: ClientServerOptions, limits: RequestLimits) {
    this.#socket = socket;
    this.#options = options;
    this.#limits = limits;
    this.#remote = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.setNoDelay(true);
    // Length-prefixed frames: a frame over the limit is refused before it is buffered.
    const reader = new FrameReader(clientFrameLimit(limits.maxValueBytes));
    socket.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.#drop((err as Error).message);
        return;
      }
      for (const frame of frames) {
        if (this.#closed || socket.destroyed) return;
        this.#receive(frame);
      }
    });
    socket.on('error', () => {});
  }

  /** Disconnects a client that broke the protocol; everyone else is served on. */
  #drop(why: string): void {
    this.#options.log?.(`disconnecting client ${this.#remote}: ${why}`);
    this.#socket.destroy();
  }

  /** One decoded frame: checked before anything is executed (request-check.ts). */
  #receive(frame: unknown): void {
    let id: number;
    try {
      id = requestIdOf(frame);
    } catch (err) {
      this.#drop((err as Error).message);
      return;
    }
    if (this.#aborts.size + this.#watches.size >= MAX_REQUESTS_PER_CONNECTION) {
      this.#drop(`more than ${MAX_REQUESTS_PER_CONNECTION} requests in progress`);
      return;
    }
    let request: ClientRequest;
    try {
      request = checkClientRequest(frame, this.#limits);
    } catch (err) {
      this.#replyError(id, err);
      return;
    }
    void this.#handle(request);
  }

  close(): void {
    this.#closed = true;
    for (const stop of this.#watches.values()) stop();
    this.#watches.clear();
    for (const abort of this.#aborts.values()) abort.abort();
  }

  #send(reply: ClientReply): void {
    if (this.#closed || this.#socket.destroyed) return;
    if (this.#socket.writableLength > MAX_UNREAD_REPLY_BYTES) {
      this.#drop(`it left more than ${MAX_UNREAD_REPLY_BYTES} bytes of replies unread`);
      return;
    }
    const [header, body] = encodeFrame(reply);
    this.#socket.write(header);
    this.#socket.write(body);
  }

  #replyError(id: number, err: unknown): void {
    const code = err instanceof KVError ? err.code : 'INTERNAL';
    this.#send({ id, ok: false, code, message: (err as Error)?.message ?? String(err) });
  }

  async #handle(request: ClientRequest): Promise<void> {
    const { id } = request;
    try {
      const result = await this.#execute(request);
      if (result !== STREAMING) this.#send({ id, ok: true, result });
    } catch (err) {
      this.#replyError(id, err);
    } finally {
      if (!this.#watches.has(id)) this.#aborts.delete(id);
    }
  }

  async #execute(request: ClientRequest): Promise<unknown> {
    const { replica, sm, admin } = this.#options;
    switch (request.op) {
      case 'hello': {
        const status = replica.status();
        const leader = replica.members().find((m) => m.id === status.leader);
        return { nodeId: replica.id, leaderClientAddr: leader?.clientAddr ?? null } satisfies HelloResult;
      }
      case 'submit':
        return replica.propose(request.request, {
          timeoutMs: request.timeoutMs,
          signal: this.#abortFor(request.id),
        });
      case 'get':
        if (request.consistent) await replica.readBarrier({ signal: this.#abortFor(request.id) });
        return sm.get(request.key);
      case 'list':
        await replica.readBarrier({ signal: this.#abortFor(request.id) });
        return sm.list(request.dir);
      case 'watch':
        await replica.readBarrier({ signal: this.#abortFor(request.id) });
        this.#startWatch(request);
        return STREAMING;
      case 'cancel':
        this.#watches.get(request.target)?.();
        this.#watches.delete(request.target);
        this.#aborts.get(request.target)?.abort();
        return null;
      case 'lockWait':
        await waitForLockHolder(sm, request.key, request.owner, request.lease, this.#abortFor(request.id));
        return null;
      case 'lockHolder':
        return sm.lockHolder(request.key);
      case 'status':
        return admin.status();
      case 'members':
        return admin.members();
      case 'addMember':
        await admin.addMember(request.member);
        return null;
      case 'removeMember':
        await admin.removeMember(request.nodeId);
        return null;
    }
  }

  #abortFor(id: number): AbortSignal {
    const controller = new AbortController();
    this.#aborts.set(id, controller);
    return controller.signal;
  }

  /** Sends the starting point (replayed history, or the current state), then follows applies. */
  #startWatch(request: Extract<ClientRequest, { op: 'watch' }>): void {
    const { sm } = this.#options;
    const { id, key, dir } = request;
    const relevant = (e: KvEvent) => (key !== undefined ? e.key === key : isUnder(e.key, dir ?? ''));
    const replay = request.after === undefined ? null : sm.eventsAfter(request.after);
    if (replay === null) {
      this.#send({
        id,
        kind: 'state',
        revision: sm.revision,
        state: key !== undefined ? sm.get(key) : sm.list(dir ?? ''),
      });
    } else {
      const events = replay.filter(relevant);
      if (events.length > 0) this.#send({ id, kind: 'events', events });
    }
    const stop = sm.onChange((batch) => {
      const events = batch.filter(relevant);
      if (events.length > 0) this.#send({ id, kind: 'events', events });
    });
    this.#watches.set(id, stop);
  }
}

const STREAMING = Symbol('streaming');
