import dgram from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { literalFirstLookup } from '../../net/udp-lookup.js';
import type { Endpoint } from '../../store/endpoints.js';
import { KVError } from '../../store/errors.js';
import type { Responder } from './responder.js';
import { MAX_TCP_BYTES } from './wire.js';

/** TCP connections served at once (RFC 7766 §6.2.2 asks servers to bound them). */
export const MAX_TCP_CONNECTIONS = 256;
/** A connection idle this long is closed (RFC 7766 §6.2.3). */
export const TCP_IDLE_MS = 10_000;
/** Queries of one connection answered concurrently; reading pauses beyond it. */
const TCP_PIPELINE = 32;
/** How often a port-0 bind is retried when TCP finds the UDP port taken. */
const BIND_ATTEMPTS = 20;
/** Kernel receive buffer asked for the UDP socket (capped by net.core.rmem_max). */
const UDP_RECV_BUFFER_BYTES = 4 * 1024 * 1024;

/** The listen error: the address is taken or cannot be bound. */
export class ListenError extends KVError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LISTEN_FAILED', message, options);
  }
}

/**
 * A UDP socket and a TCP server on one address and port, both answering through a Responder.
 * Nothing a client sends can stop it: every packet is handled inside a try, replies that fail to
 * send are dropped, and TCP connections are bounded in number, idle time and frame size.
 */
export class DnsSockets {
  readonly address: Endpoint;
  readonly #udp: dgram.Socket;
  readonly #tcp: Server;
  readonly #connections = new Set<Socket>();
  readonly #onError: (err: unknown) => void;

  private constructor(udp: dgram.Socket, tcp: Server, address: Endpoint, onError: (err: unknown) => void) {
    this.#udp = udp;
    this.#tcp = tcp;
    this.address = address;
    this.#onError = onError;
  }

  /** Binds UDP then TCP on the same port (port 0: any free port both can have). */
  static async bind(
    listen: Endpoint,
    responder: Responder,
    onError: (err: unknown) => void,
  ): Promise<DnsSockets> {
    const family = isIP(listen.host);
    if (family === 0) throw new ListenError(`cannot listen on ${listen.host}: not an IP address`);
    for (let attempt = 1; ; attempt++) {
      const udp = dgram.createSocket({
        type: family === 6 ? 'udp6' : 'udp4',
        recvBufferSize: UDP_RECV_BUFFER_BYTES,
        // Replies go to the query's source, an IP literal: no deferred lookup per send.
        lookup: literalFirstLookup,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(listen.port, listen.host, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        throw new ListenError(
          `cannot listen on UDP ${listen.host}:${listen.port}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      const port = udp.address().port;
      const tcp = createServer();
      tcp.maxConnections = MAX_TCP_CONNECTIONS;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ port, host: listen.host, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        tcp.close();
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (listen.port === 0 && inUse && attempt < BIND_ATTEMPTS) continue;
        throw new ListenError(`cannot listen on TCP ${listen.host}:${port}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const sockets = new DnsSockets(udp, tcp, { host: listen.host, port }, onError);
      sockets.#serve(responder);
      return sockets;
    }
  }

  /** The UDP socket, for the other processes that answer on it (udp-processes.ts). */
  get udp(): dgram.Socket {
    return this.#udp;
  }

  #serve(responder: Responder): void {
    answerUdp(this.#udp, responder, this.#onError);
    this.#tcp.on('connection', (socket) => this.#connection(socket, responder));
    this.#tcp.on('error', this.#onError);
  }

  /** RFC 1035 §4.2.2 / RFC 7766: 2-byte length frames, several queries per connection, replies as they are ready. */
  #connection(socket: Socket, responder: Responder): void {
    this.#connections.add(socket);
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#connections.delete(socket));
    let buffered = Buffer.alloc(0);
    let pending = 0;
    const write = (reply: Buffer | null) => {
      if (reply === null || socket.destroyed) return;
      const frame = Buffer.allocUnsafe(2 + reply.length);
      frame.writeUInt16BE(reply.length, 0);
      reply.copy(frame, 2);
      socket.write(frame);
    };
    socket.on('data', (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const packet = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        let reply: ReturnType<Responder['answer']>;
        try {
          reply = responder.answer(Buffer.from(packet), 'tcp');
        } catch (err) {
          this.#onError(err);
          continue;
        }
        if (!(reply instanceof Promise)) {
          write(reply);
          continue;
        }
        pending++;
        if (pending >= TCP_PIPELINE) socket.pause();
        reply.then(write, this.#onError).finally(() => {
          pending--;
          if (pending < TCP_PIPELINE && socket.isPaused()) socket.resume();
        });
      }
      if (buffered.length > 2 + MAX_TCP_BYTES) socket.destroy();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#connections) socket.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.#udp.close(() => resolve())),
      new Promise<void>((resolve) => this.#tcp.close(() => resolve())),
    ]);
  }
}

/**
 * Answers every query arriving on `udp` through `responder` — in this process or in another one
 * holding the same socket. Replies go back to the sender's address, which is always an IP literal.
 */
export function answerUdp(udp: dgram.Socket, responder: Responder, onError: (err: unknown) => void): void {
  const send = (reply: Buffer, to: dgram.RemoteInfo) => {
    // No callback: a send that completes at once then costs no JS callback (errors go to the socket's error event).
    udp.send(reply, to.port, to.address);
  };
  udp.on('message', (packet, from) => {
    if (from.port === 0) return;
    let reply: ReturnType<Responder['answer']>;
    try {
      reply = responder.answer(packet, 'udp');
    } catch (err) {
      onError(err);
      return;
    }
    if (reply === null) return;
    if (reply instanceof Promise) reply.then((r) => r && send(r, from), onError);
    else send(reply, from);
  });
  udp.on('error', onError);
}
