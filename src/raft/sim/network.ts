import type { Rng } from '../core/index.js';
import type { EventQueue } from './event-queue.js';

/** Link behaviour shared by every message. */
export interface LinkFaults {
  /** Probability that a message is dropped. */
  lossRate: number;
  /** Probability that a delivered message is delivered a second time (later). */
  duplicateRate: number;
  /** Delivery delay is uniform in [minDelayMs, maxDelayMs]; different delays reorder messages. */
  minDelayMs: number;
  maxDelayMs: number;
}

/**
 * The simulated network between nodes: random delay (hence reordering), loss and
 * duplication, and partitions expressed as a set of blocked one-way links, so symmetric,
 * asymmetric and bridge partitions are all the same mechanism.
 */
export class SimNetwork {
  private blocked = new Set<string>();
  /** Messages sent / dropped by faults or partitions / duplicated. */
  readonly stats = { sent: 0, dropped: 0, duplicated: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Rng & { next(): number },
    public faults: LinkFaults,
  ) {}

  /** Sends one message: `deliver` runs at the receiver's end, zero, one or two times. */
  send(from: string, to: string, deliver: () => void): void {
    this.stats.sent++;
    if (this.blocked.has(linkKey(from, to)) || this.rng.next() < this.faults.lossRate) {
      this.stats.dropped++;
      return;
    }
    this.queue.schedule(this.delay(), deliver);
    if (this.rng.next() < this.faults.duplicateRate) {
      this.stats.duplicated++;
      this.queue.schedule(this.delay() * 2, deliver);
    }
  }

  /** Client traffic: same delays and loss, but partitions between nodes do not apply. */
  sendClient(deliver: () => void): void {
    if (this.rng.next() < this.faults.lossRate) return;
    this.queue.schedule(this.delay(), deliver);
  }

  /** Symmetric partition: no traffic between the groups either way. */
  partition(groups: string[][]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]) for (const b of groups[j]) this.blocked.add(linkKey(a, b));
      }
    }
  }

  /** Asymmetric: `from` can no longer reach `to`, but `to` still reaches `from`. */
  blockOneWay(from: string, to: string): void {
    this.blocked.add(linkKey(from, to));
  }

  /**
   * Bridge: `left` and `right` cannot talk to each other, but `bridge` talks to both (the
   * classic Jepsen topology: a majority through the bridge on both sides).
   */
  bridge(left: string[], bridge: string, right: string[]): void {
    this.partition([left.filter((n) => n !== bridge), right.filter((n) => n !== bridge)]);
  }

  heal(): void {
    this.blocked.clear();
  }

  get partitioned(): boolean {
    return this.blocked.size > 0;
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.faults;
    return minDelayMs + this.rng.next() * (maxDelayMs - minDelayMs);
  }
}

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}
