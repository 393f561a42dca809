import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Backoff } from '../../store/backoff.js';
import { parseEndpoint } from '../../store/endpoints.js';
import type { Message } from '../core/index.js';
import { encodeFrame, FrameReader } from './frame-codec.js';
import { mutualTlsClientOptions, type TlsMaterial } from './tls-material.js';
import type { Hello, HelloReply } from './wire.js';

export interface PeerLinkOptions {
  self: string;
  peer: string;
  hello: () => Hello;
  resolve: () => string | undefined;
  tls: TlsMaterial | undefined;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  /** Stop writing to the socket (and queue instead) above this many unsent bytes. */
  socketHighWater: number;
  connectTimeoutMs: number;
  /** The link lost messages (disconnect or overflow): the leader should probe the peer. */
  onUnreachable: () => void;
  log: (line: string) => void;
}

interface Queued {
  frame: [Buffer, Buffer];
  bytes: number;
  snapshot: boolean;
}

type State = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/**
 * The outbound half of the connection to one peer: this node's messages to it, pipelined
 * (nothing waits for an answer), over a connection re-established with backoff. While the
 * connection is down or the socket is full, messages wait in a bounded queue that drops the
 * oldest non-snapshot message when full: Raft tolerates loss, not unbounded memory.
 * The peer's messages to us arrive on the connection it opens to us.
 */
export class PeerLink {
  private state: State = 'idle';
  private socket: Socket | null = null;
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private corked = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly backoff = new Backoff({ initialMs: 50, maxMs: 1000 });
  private lastProblem: string | null = null;

  constructor(private readonly opts: PeerLinkOptions) {}

  get peer(): string {
    return this.opts.peer;
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  send(message: Message): void {
    if (this.state === 'closed') return;
    const frame = encodeFrame(message);
    const item: Queued = { frame, bytes: frame[1].byteLength + 4, snapshot: message.type === 'snap' };
    const socket = this.socket;
    if (
      this.state === 'open' &&
      socket &&
      this.queue.length === 0 &&
      socket.writableLength < this.opts.socketHighWater
    ) {
      this.write(socket, item);
      return;
    }
    this.enqueue(item);
    if (this.state === 'idle') this.connect();
  }

  close(): void {
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.socket = null;
    this.queue = [];
    this.queuedBytes = 0;
  }

  private enqueue(item: Queued): void {
    let dropped = false;
    while (
      this.queue.length > 0 &&
      (this.queue.length >= this.opts.maxQueuedMessages ||
        this.queuedBytes + item.bytes > this.opts.maxQueuedBytes)
    ) {
      let victim = this.queue.findIndex((q) => !q.snapshot);
      if (victim < 0) victim = 0;
      this.queuedBytes -= this.queue[victim].bytes;
      this.queue.splice(victim, 1);
      dropped = true;
    }
    this.queue.push(item);
    this.queuedBytes += item.bytes;
    if (dropped) this.opts.onUnreachable();
  }

  private write(socket: Socket, item: Queued): void {
    if (!this.corked) {
      // Frames written in one turn of the event loop leave in as few packets as possible.
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(item.frame[0]);
    socket.write(item.frame[1]);
  }

  private flush(): void {
    const socket = this.socket;
    if (this.state !== 'open' || !socket) return;
    while (this.queue.length > 0 && socket.writableLength < this.opts.socketHighWater) {
      const item = this.queue.shift() as Queued;
      this.queuedBytes -= item.bytes;
      this.write(socket, item);
    }
  }

  private connect(): void {
    const address = this.opts.resolve();
    if (address === undefined) {
      this.problem(`no address known for peer ${this.opts.peer}; dropping its messages`);
      this.queue = [];
      this.queuedBytes = 0;
      return;
    }
    let endpoint: { host: string; port: number };
    try {
      endpoint = parseEndpoint(address, 0);
    } catch (err) {
      this.problem(`bad address ${address} for peer ${this.opts.peer}: ${(err as Error).message}`);
      this.queue = [];
      this.queuedBytes = 0;
      return;
    }
    this.state = 'connecting';
    const tls = this.opts.tls;
    const socket = tls
      ? tlsConnect({ ...endpoint, ...mutualTlsClientOptions(tls, this.opts.peer) })
      : netConnect(endpoint);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    const reader = new FrameReader();
    const timeout = setTimeout(
      () => this.fail(socket, `no handshake within ${this.opts.connectTimeoutMs} ms`),
      this.opts.connectTimeoutMs,
    );
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      const [header, body] = encodeFrame(this.opts.hello());
      socket.write(header);
      socket.write(body);
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      let replies: unknown[];
      try {
        replies = reader.push(chunk);
      } catch (err) {
        this.fail(socket, (err as Error).message);
        return;
      }
      for (const reply of replies as HelloReply[]) {
        if (this.state !== 'connecting') continue;
        clearTimeout(timeout);
        if (reply?.kind === 'welcome') {
          this.state = 'open';
          this.backoff.reset();
          if (this.lastProblem !== null) this.opts.log(`connected to peer ${this.opts.peer} at ${address}`);
          this.lastProblem = null;
          this.flush();
        } else {
          const why = reply?.kind === 'refuse' ? reply.reason : 'unexpected handshake reply';
          this.fail(socket, `peer ${this.opts.peer} at ${address} refused our connection: ${why}`, true);
        }
      }
    });
    socket.on('drain', () => this.flush());
    socket.on('error', (err) => {
      clearTimeout(timeout);
      this.fail(socket, `peer ${this.opts.peer} at ${address}: ${err.message}`);
    });
    socket.on('close', () => {
      clearTimeout(timeout);
      this.fail(socket, `connection to peer ${this.opts.peer} at ${address} closed`);
    });
  }

  /** Drops the connection and its queue, and retries after a backoff. */
  private fail(socket: Socket, why: string, alwaysLog = false): void {
    if (this.socket !== socket || this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    socket.destroy();
    this.socket = null;
    if (alwaysLog) this.problem(why);
    else if (!wasOpen && this.lastProblem === null) this.problem(why);
    else if (wasOpen) this.problem(`lost connection to peer ${this.opts.peer}`);
    // Queued messages are stale by the time we reconnect; the leader resends what matters.
    const hadMessages = wasOpen || this.queue.length > 0;
    this.queue = [];
    this.queuedBytes = 0;
    if (hadMessages) this.opts.onUnreachable();
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state !== 'backoff') return;
      this.state = 'idle';
      if (this.queue.length > 0) this.connect();
    }, this.backoff.nextDelayMs());
  }

  /** Logs a problem once until the link recovers (a peer that is down would flood the log). */
  private problem(why: string): void {
    if (why === this.lastProblem) return;
    this.lastProblem = why;
    this.opts.log(why);
  }
}
