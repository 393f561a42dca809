import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { literalFirstLookup } from '../../net/udp-lookup.js';
import { AddressInUseError } from '../../raft/runtime/errors.js';
import { type Endpoint, formatEndpoint, parseEndpoint } from '../../store/endpoints.js';
import { NotReachableError, TimeoutError } from '../../store/errors.js';
import { MAX_STREAM_FRAME_BYTES } from '../core/limits.js';
import { type Keyring, type OpenFailure, SEAL_OVERHEAD_BYTES } from './keyring.js';

/** Largest datagram accepted: the core's 1,400-byte packets, with room for a plaintext marker. */
export const MAX_DATAGRAM_BYTES = 1400;
/** Largest stream frame accepted either way (after encryption). */
export const MAX_FRAME_BYTES = MAX_STREAM_FRAME_BYTES + SEAL_OVERHEAD_BYTES;
/** Inbound streams served at once; more are refused (a bounded queue, moby#41416). */
const MAX_INBOUND_STREAMS = 64;

export interface TransportHandlers {
  packet(from: string, plain: Uint8Array): void;
  /** A stream request; the answer to send back, or null to close without one. */
  stream(from: string, plain: Uint8Array): Uint8Array | null;
  /** Something arrived that could not be opened (wrong key, plaintext, garbage) or was too big. */
  refused(from: string, what: 'packet' | 'stream', reason: OpenFailure | 'too-large'): void;
}

/**
 * UDP and TCP on one port (memberlist's NetTransport): packets are sealed with the keyring
 * and go out as one datagram each; a stream is one connection carrying one request frame
 * and one answer frame (4-byte length, bounded), each sealed.
 */
export class GossipTransport {
  private inbound = 0;
  private closed = false;
  private readonly openSockets = new Set<Socket>();
  private readonly endpoints = new Map<string, Endpoint>();

  private constructor(
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    readonly address: Endpoint,
    private readonly keyring: Keyring,
    private readonly handlers: TransportHandlers,
    private readonly streamTimeoutMs: number,
  ) {
    udp.on('message', (msg, rinfo) =>
      this.onDatagram(msg, formatEndpoint({ host: rinfo.address, port: rinfo.port })),
    );
    udp.on('error', () => {});
    tcp.on('connection', (socket) => this.serve(socket));
    tcp.on('error', () => {});
  }

  /** Binds UDP and TCP on the same port (port 0: a free one, retried if TCP finds it taken). */
  static async bind(
    bind: string,
    keyring: Keyring,
    handlers: TransportHandlers,
    streamTimeoutMs: number,
  ): Promise<GossipTransport> {
    const { host, port } = parseEndpoint(bind, 7946, { listening: true });
    for (let attempt = 0; ; attempt++) {
      // A literal-first lookup sends at once: a leave sent just before close() is not dropped.
      const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', lookup: literalFirstLookup });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind(port, host, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        throw new AddressInUseError('gossip UDP address', formatEndpoint({ host, port }), { cause: err });
      }
      const boundPort = udp.address().port;
      const tcp = createServer({ pauseOnConnect: false });
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ port: boundPort, host, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        tcp.close();
        // Port 0 gave a UDP port whose TCP twin is taken: try another.
        if (port === 0 && attempt < 20 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw new AddressInUseError('gossip TCP address', formatEndpoint({ host, port: boundPort }), {
          cause: err,
        });
      }
      return new GossipTransport(udp, tcp, { host, port: boundPort }, keyring, handlers, streamTimeoutMs);
    }
  }

  sendPacket(to: string, plain: Uint8Array): void {
    if (this.closed) return;
    const target = this.endpoint(to);
    if (!target) return;
    this.udp.send(this.keyring.seal(plain), target.port, target.host, () => {});
  }

  /** Sends one request frame to `to` and resolves with the opened answer frame. */
  request(to: string, plain: Uint8Array): Promise<Uint8Array> {
    const target = this.endpoint(to);
    if (!target) return Promise.reject(new NotReachableError(`bad gossip address ${JSON.stringify(to)}`));
    return requestFrame(target, this.keyring.seal(plain), this.keyring, this.streamTimeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.openSockets) socket.destroy();
    await Promise.all([
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
    ]);
  }

  private endpoint(addr: string): Endpoint | null {
    let ep = this.endpoints.get(addr);
    if (ep) return ep;
    try {
      ep = parseEndpoint(addr, 7946);
    } catch {
      return null;
    }
    if (this.endpoints.size >= 16_384) this.endpoints.clear();
    this.endpoints.set(addr, ep);
    return ep;
  }

  private onDatagram(msg: Buffer, from: string): void {
    if (this.closed) return;
    try {
      if (msg.byteLength > MAX_DATAGRAM_BYTES) {
        this.handlers.refused(from, 'packet', 'too-large');
        return;
      }
      const plain = this.keyring.open(msg);
      if (typeof plain === 'string') this.handlers.refused(from, 'packet', plain);
      else this.handlers.packet(from, plain);
    } catch {
      // The core never throws on input; this only guards the process against a bug.
    }
  }

  private serve(socket: Socket): void {
    const from = formatEndpoint({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    if (this.closed || this.inbound >= MAX_INBOUND_STREAMS) {
      socket.destroy();
      return;
    }
    this.inbound++;
    this.openSockets.add(socket);
    // For the whole life of the connection, not only while the request is read: the peer may
    // be gone by the time the answer is written (it gave up while this process was stopped,
    // or reset on purpose), and an 'error' without a listener would end the process.
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.inbound--;
      this.openSockets.delete(socket);
    });
    readOneFrame(socket, this.streamTimeoutMs).then(
      (frame) => {
        if (this.closed) return socket.destroy();
        const plain = this.keyring.open(frame);
        if (typeof plain === 'string') {
          this.handlers.refused(from, 'stream', plain);
          return socket.destroy();
        }
        const answer = this.handlers.stream(from, plain);
        if (answer === null) return socket.end();
        writeFrame(socket, this.keyring.seal(answer));
        socket.end();
      },
      (err: Error) => {
        if ((err as { tooLarge?: boolean }).tooLarge) this.handlers.refused(from, 'stream', 'too-large');
        socket.destroy();
      },
    );
  }
}

function writeFrame(socket: Socket, body: Uint8Array): void {
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.byteLength, 0);
  socket.write(header);
  socket.write(body);
}

/** Reads exactly one length-prefixed frame (bounded in size and time), then stops reading. */
function readOneFrame(socket: Socket, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let expected = -1;
    const timer = setTimeout(
      () => finish(new TimeoutError(`no complete frame within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (err: Error | null, frame?: Uint8Array): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      if (err) reject(err);
      else resolve(frame as Uint8Array);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.byteLength;
      if (expected < 0 && received >= 4) {
        expected = Buffer.concat(chunks).readUInt32BE(0);
        if (expected > MAX_FRAME_BYTES) {
          finish(
            Object.assign(new Error(`frame of ${expected} bytes exceeds ${MAX_FRAME_BYTES}`), {
              tooLarge: true,
            }),
          );
          return;
        }
      }
      if (expected >= 0 && received >= 4 + expected) {
        finish(null, Buffer.concat(chunks).subarray(4, 4 + expected));
      }
    };
    const onError = (err: Error): void => finish(err);
    const onEnd = (): void =>
      finish(
        new NotReachableError(
          'closed without an answer (a member with another key, or not a gossip member?)',
        ),
      );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
  });
}

/**
 * One request/answer exchange with a gossip member over TCP: connect, send the sealed
 * request, read one sealed answer and open it. Bounded by `timeoutMs` from start to end.
 */
export function requestFrame(
  target: Endpoint,
  sealed: Uint8Array,
  keyring: Keyring,
  timeoutMs: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TimeoutError(`gossip member ${formatEndpoint(target)} did not answer within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    // `on`, not `once`: a second error (while writing the request, say) must not end the process.
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new NotReachableError(`gossip member ${formatEndpoint(target)}: ${err.message}`, { cause: err }),
      );
    });
    socket.once('connect', () => {
      writeFrame(socket, sealed);
      readOneFrame(socket, timeoutMs).then(
        (frame) => {
          clearTimeout(timer);
          socket.destroy();
          const plain = keyring.open(frame);
          if (typeof plain === 'string') {
            reject(
              new NotReachableError(`the answer of ${formatEndpoint(target)} could not be opened: ${plain}`),
            );
          } else resolve(plain);
        },
        (err: Error) => {
          clearTimeout(timer);
          socket.destroy();
          reject(
            err instanceof NotReachableError || err instanceof TimeoutError
              ? err
              : new NotReachableError(err.message),
          );
        },
      );
    });
  });
}
