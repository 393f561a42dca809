import type { EventQueue } from '../../raft/sim/event-queue.js';
import type { CoreRng } from '../core/random.js';

/** Bytes AES-GCM adds to every packet and stream frame (version, nonce, tag), as the runtime sends them. */
export const ENCRYPTION_OVERHEAD_BYTES = 29;
/** A stream frame's length prefix. */
const FRAME_HEADER_BYTES = 4;

export interface GossipLinkFaults {
  /** Probability that a packet is lost (streams are reliable, but fail across a partition). */
  lossRate: number;
  /** Probability that a delivered packet arrives twice. */
  duplicateRate: number;
  /** One-way delay, uniform in [minDelayMs, maxDelayMs] (so packets reorder). */
  minDelayMs: number;
  maxDelayMs: number;
}

/** One simulated process behind an address. */
export interface SimEndpoint {
  readonly up: boolean;
  deliverPacket(from: string, bytes: Uint8Array): void;
  /** A stream request; returns the answer (null: closed without one). */
  deliverStream(from: string, bytes: Uint8Array): Uint8Array | null;
}

export interface TrafficStats {
  packets: number;
  packetBytes: number;
  streams: number;
  streamBytes: number;
  dropped: number;
}

/**
 * The simulated network: UDP packets with loss, duplication and random delay; TCP streams
 * that take time by size (100 Mbit/s) and fail after a connect timeout across a partition
 * or to a stopped process. Partitions put each address in a group; traffic crosses only
 * within a group. Traffic is counted per sender, with the bytes encryption would add.
 */
export class SimGossipNetwork {
  private readonly endpoints = new Map<string, SimEndpoint>();
  private readonly groups = new Map<string, number>();
  readonly sent = new Map<string, TrafficStats>();
  readonly totals: TrafficStats = { packets: 0, packetBytes: 0, streams: 0, streamBytes: 0, dropped: 0 };
  /** Bytes per ms a stream moves (100 Mbit/s). */
  bandwidthBytesPerMs = 12_500;
  connectTimeoutMs = 1_000;

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: CoreRng,
    public faults: GossipLinkFaults,
  ) {}

  attach(addr: string, endpoint: SimEndpoint): void {
    this.endpoints.set(addr, endpoint);
  }

  /** Each list is one side; addresses not listed stay in group 0. */
  partition(groups: string[][]): void {
    this.groups.clear();
    groups.forEach((members, i) => {
      for (const addr of members) this.groups.set(addr, i + 1);
    });
  }

  heal(): void {
    this.groups.clear();
  }

  get partitioned(): boolean {
    return this.groups.size > 0;
  }

  canReach(from: string, to: string): boolean {
    return (this.groups.get(from) ?? 0) === (this.groups.get(to) ?? 0);
  }

  resetCounters(): void {
    this.sent.clear();
    Object.assign(this.totals, { packets: 0, packetBytes: 0, streams: 0, streamBytes: 0, dropped: 0 });
  }

  sendPacket(from: string, to: string, bytes: Uint8Array): void {
    const stats = this.statsOf(from);
    const size = bytes.byteLength + ENCRYPTION_OVERHEAD_BYTES;
    stats.packets++;
    stats.packetBytes += size;
    this.totals.packets++;
    this.totals.packetBytes += size;
    if (!this.canReach(from, to) || this.rng.next() < this.faults.lossRate) {
      this.totals.dropped++;
      return;
    }
    const deliver = (): void => {
      const target = this.endpoints.get(to);
      if (target?.up && this.canReach(from, to)) target.deliverPacket(from, bytes);
    };
    this.queue.schedule(this.delay(), deliver);
    if (this.faults.duplicateRate > 0 && this.rng.next() < this.faults.duplicateRate) {
      this.queue.schedule(this.delay() * 2, deliver);
    }
  }

  /** A request/answer stream; `reply` runs exactly once, with the answer or null and a reason. */
  openStream(
    from: string,
    to: string,
    bytes: Uint8Array,
    reply: (answer: Uint8Array | null, error: string | null) => void,
  ): void {
    const stats = this.statsOf(from);
    const size = bytes.byteLength + ENCRYPTION_OVERHEAD_BYTES + FRAME_HEADER_BYTES;
    stats.streams++;
    stats.streamBytes += size;
    this.totals.streams++;
    this.totals.streamBytes += size;
    const target = this.endpoints.get(to);
    if (!this.canReach(from, to)) {
      this.queue.schedule(this.connectTimeoutMs, () => reply(null, 'connect timed out'));
      return;
    }
    if (!target?.up) {
      this.queue.schedule(this.delay() * 2, () => reply(null, 'connection refused'));
      return;
    }
    this.queue.schedule(this.delay() * 2 + size / this.bandwidthBytesPerMs, () => {
      if (!target.up || !this.canReach(from, to)) {
        reply(null, 'connection reset');
        return;
      }
      const answer = target.deliverStream(from, bytes);
      if (answer === null) {
        this.queue.schedule(this.delay(), () => reply(null, 'closed without an answer'));
        return;
      }
      const answerSize = answer.byteLength + ENCRYPTION_OVERHEAD_BYTES + FRAME_HEADER_BYTES;
      const back = this.statsOf(to);
      back.streamBytes += answerSize;
      this.totals.streamBytes += answerSize;
      this.queue.schedule(this.delay() + answerSize / this.bandwidthBytesPerMs, () => {
        if (this.canReach(from, to)) reply(answer, null);
        else reply(null, 'connection reset');
      });
    });
  }

  private statsOf(addr: string): TrafficStats {
    let stats = this.sent.get(addr);
    if (!stats)
      this.sent.set(addr, (stats = { packets: 0, packetBytes: 0, streams: 0, streamBytes: 0, dropped: 0 }));
    return stats;
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.faults;
    return minDelayMs + this.rng.next() * (maxDelayMs - minDelayMs);
  }
}
