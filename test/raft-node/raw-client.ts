import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import { encodeRequest, type KvRequest } from '../../src/raft/kv/index.js';
import { encodeFrame, FrameReader } from '../../src/raft/runtime/frame-codec.js';

/** Encodes any value the way a KvRequest travels in a `submit` (msgpack), however malformed. */
export function encodeKvRequest(value: unknown): Uint8Array {
  return encodeRequest(value as KvRequest);
}

/** A client-port connection that sends whatever it is told: frames of any value, or raw bytes. */
export class RawClient {
  readonly replies: { id: number; ok: boolean; code?: string; message?: string }[] = [];
  readonly closed: Promise<void>;
  private readonly reader = new FrameReader(512 * 1024 * 1024);
  private nextId = 0;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const reply of this.reader.push(chunk)) this.replies.push(reply as RawClient['replies'][number]);
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects over TCP, or over TLS with `tls` (resolving once the client's side of the handshake is done). */
  static connect(address: string, tls?: ConnectionOptions): Promise<RawClient> {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      Number(address.slice(address.lastIndexOf(':') + 1)),
    ];
    return new Promise((resolve, reject) => {
      const socket: Socket = tls
        ? connectTls({ host, port, ...tls }, () => resolve(new RawClient(socket)))
        : connect({ host, port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends `body` with a fresh id as one frame; resolves with the reply to it, rejects once the connection closed without one. */
  async request(body: Record<string, unknown>, timeoutMs = 10_000): Promise<RawClient['replies'][number]> {
    const id = ++this.nextId;
    this.frame({ id, ...body });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.replies.find((r) => r.id === id);
      if (reply) return reply;
      if (this.socket.destroyed) throw new Error('the node closed the connection');
      if (Date.now() > deadline) throw new Error(`no reply to ${JSON.stringify(body).slice(0, 100)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  frame(value: unknown): void {
    for (const part of encodeFrame(value)) this.socket.write(part);
  }

  raw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Resolves true once the node closed the connection, false if it is still open after `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    return Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
    ]);
  }

  close(): void {
    this.socket.destroy();
  }
}
