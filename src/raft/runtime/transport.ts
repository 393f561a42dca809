import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { formatEndpoint, parseEndpoint } from '../../store/endpoints.js';
import type { Message } from '../core/index.js';
import { AddressInUseError } from './errors.js';
import { FaultHook } from './fault-hook.js';
import { encodeFrame, FrameReader } from './frame-codec.js';
import { PeerLink } from './peer-link.js';
import { certificateName, mutualTlsServerOptions, type TlsMaterial } from './tls-material.js';
import { type Hello, type HelloReply, isHello, PEER_PROTOCOL_VERSION } from './wire.js';

export interface TransportOptions {
  nodeId: string;
  /** host:port to listen on (port 0: any free port). */
  listen: string;
  /** The address peers reach us at; default: the bound address. */
  advertise?: string;
  /** This node's cluster id; null while a joining node has not heard from its cluster. */
  clusterId: () => string | null;
  /** A joining node adopts the cluster id of the first peer that dials it; returns whether it did. */
  adoptClusterId?: (clusterId: string, from: string) => boolean;
  /** The peer address of a member, from the replicated membership. */
  resolve: (peer: string) => string | undefined;
  /** A peer told us its address in its handshake (used until membership says otherwise). */
  learnAddress?: (peer: string, address: string) => void;
  /** A message for this node; returning false says it was malformed: the sender is disconnected. */
  onMessage: (message: Message) => boolean | undefined | void;
  /** Messages to `peer` were lost (disconnect or overflow). */
  onUnreachable?: (peer: string) => void;
  tls?: TlsMaterial;
  log: (line: string) => void;
  /** Per-peer queue bound while the connection is down or full. Defaults: 4096 messages, 64 MiB. */
  maxQueuedMessages?: number;
  maxQueuedBytes?: number;
  /** Unsent bytes a socket may hold before messages wait in the queue. Default 8 MiB. */
  socketHighWater?: number;
  /** Connect + handshake deadline. Default 3000 ms. */
  connectTimeoutMs?: number;
}

const HELLO_TIMEOUT_MS = 5000;

/**
 * TCP (optionally mutual TLS) between Raft nodes. Each node dials every peer it has
 * messages for and sends them, length-prefixed msgpack frames, down that connection; it
 * receives on the connections peers open to it. A handshake first checks the cluster id,
 * the addressed node id and (with TLS) that the certificate belongs to the node it claims.
 */
export class Transport {
  /** Test hook: drop traffic to and from chosen peers. */
  readonly faults = new FaultHook();
  readonly address: string;
  private readonly links = new Map<string, PeerLink>();
  private readonly inbound = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly opts: TransportOptions,
    private readonly server: Server,
    address: string,
  ) {
    this.address = address;
  }

  /** Binds the peer port; rejects with AddressInUseError when it is taken. */
  static async start(opts: TransportOptions): Promise<Transport> {
    const { host, port } = parseEndpoint(opts.listen, 0, { listening: true });
    let transport: Transport | null = null;
    const onSocket = (socket: Socket) => {
      if (transport) transport.accept(socket);
      else socket.destroy();
    };
    const server = opts.tls
      ? createTlsServer(mutualTlsServerOptions(opts.tls), onSocket)
      : createNetServer(onSocket);
    if (opts.tls) {
      server.on('tlsClientError', (err, socket) => {
        opts.log(
          `refused a TLS connection from ${socket.remoteAddress}:${socket.remotePort}: ${err.message}`,
        );
      });
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          err.code === 'EADDRINUSE'
            ? new AddressInUseError('peer address', opts.listen, { cause: err })
            : err,
        );
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => opts.log(`peer listener error: ${err.message}`));
    const bound = server.address();
    const address =
      bound !== null && typeof bound === 'object' ? formatEndpoint({ host, port: bound.port }) : opts.listen;
    transport = new Transport(opts, server, address);
    return transport;
  }

  /** Sends messages (pipelined; delivery is best effort, as Raft expects). */
  send(messages: Message[]): void {
    if (this.closed) return;
    for (const message of messages) {
      if (!this.faults.allows(message.to)) continue;
      this.link(message.to).send(message);
    }
  }

  /** Whether the outbound connection to `peer` is up (for status and tests). */
  isConnected(peer: string): boolean {
    return this.links.get(peer)?.connected ?? false;
  }

  /** Forgets a peer that left the cluster. */
  dropPeer(peer: string): void {
    this.links.get(peer)?.close();
    this.links.delete(peer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const socket of this.inbound) socket.destroy();
    this.inbound.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private link(peer: string): PeerLink {
    let link = this.links.get(peer);
    if (!link) {
      link = new PeerLink({
        self: this.opts.nodeId,
        peer,
        hello: () => ({
          kind: 'hello',
          version: PEER_PROTOCOL_VERSION,
          cluster: this.opts.clusterId(),
          from: this.opts.nodeId,
          to: peer,
          addr: this.opts.advertise ?? this.address,
        }),
        resolve: () => this.opts.resolve(peer),
        tls: this.opts.tls,
        maxQueuedMessages: this.opts.maxQueuedMessages ?? 4096,
        maxQueuedBytes: this.opts.maxQueuedBytes ?? 64 * 1024 * 1024,
        socketHighWater: this.opts.socketHighWater ?? 8 * 1024 * 1024,
        connectTimeoutMs: this.opts.connectTimeoutMs ?? 3000,
        onUnreachable: () => this.opts.onUnreachable?.(peer),
        log: this.opts.log,
      });
      this.links.set(peer, link);
    }
    return link;
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const reader = new FrameReader();
    let peer: string | null = null;
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.opts.log(`dropping peer connection from ${peer ?? remote}: ${(err as Error).message}`);
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (socket.destroyed) return;
        if (peer === null) {
          clearTimeout(helloTimer);
          const refusal = this.checkHello(frame, socket);
          if (refusal !== null) {
            const who = isHello(frame) ? `${frame.from} (${remote})` : remote;
            this.opts.log(`refused peer connection from ${who}: ${refusal}`);
            this.reply(socket, { kind: 'refuse', reason: refusal });
            socket.end();
            return;
          }
          const hello = frame as Hello;
          peer = hello.from;
          this.opts.learnAddress?.(peer, hello.addr);
          this.reply(socket, { kind: 'welcome' });
          continue;
        }
        if (!this.deliver(peer, frame as Message)) {
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(helloTimer);
      this.inbound.delete(socket);
    });
  }

  /** Why a handshake is refused, or null to accept it. */
  private checkHello(frame: unknown, socket: Socket): string | null {
    if (!isHello(frame)) return 'the first frame is not a handshake';
    if (frame.version !== PEER_PROTOCOL_VERSION) {
      return `protocol version ${frame.version} is not supported (this node speaks ${PEER_PROTOCOL_VERSION})`;
    }
    if (frame.to !== this.opts.nodeId) {
      return `this is node ${this.opts.nodeId}, not ${frame.to} (wrong peer address in the sender's member list?)`;
    }
    if (this.opts.tls) {
      const name = certificateName((socket as TLSSocket).getPeerCertificate());
      if (name !== frame.from) {
        return `its certificate is issued to ${JSON.stringify(name)}, but it claims to be ${frame.from}`;
      }
    }
    const ours = this.opts.clusterId();
    if (frame.cluster === null) return 'the sender has no cluster id';
    if (ours === null) {
      return this.opts.adoptClusterId?.(frame.cluster, frame.from)
        ? null
        : 'this node has not joined a cluster yet';
    }
    if (frame.cluster !== ours) {
      return `cluster id mismatch: this node is in cluster ${ours}, the sender in ${frame.cluster}`;
    }
    return null;
  }

  /** Hands a message on; false when the peer sent garbage (then it is disconnected). */
  private deliver(peer: string, message: Message): boolean {
    if (!this.faults.allows(peer)) return true;
    if (
      typeof message !== 'object' ||
      message === null ||
      message.from !== peer ||
      message.to !== this.opts.nodeId
    ) {
      this.opts.log(`disconnecting ${peer}: a message not from it or not for this node`);
      return false;
    }
    try {
      if (this.opts.onMessage(message) === false) {
        this.opts.log(
          `disconnecting ${peer}: it sent a malformed ${String(message.type).slice(0, 20)} message`,
        );
        return false;
      }
    } catch (err) {
      this.opts.log(`error handling ${message.type} from ${peer}: ${(err as Error).stack ?? err}`);
    }
    return true;
  }

  private reply(socket: Socket, reply: HelloReply): void {
    const [header, body] = encodeFrame(reply);
    socket.write(header);
    socket.write(body);
  }
}
