import type { NodeId } from './types.js';

/** A ReadIndex request waiting for a heartbeat round to confirm the leader. */
interface PendingRead {
  requestId: string;
  /** Who asked: the leader itself or a follower that forwarded the request. */
  from: NodeId;
  /** Commit index when the request arrived: the read is linearizable once applied there. */
  index: number;
  /** Heartbeat round tag; acknowledgements of this or a later round confirm this read. */
  context: number;
  acks: Set<NodeId>;
}

export type ConfirmedRead = Pick<PendingRead, 'requestId' | 'from' | 'index'>;

/**
 * Thesis §6.4: the leader records its commit index, then proves it is still leader by
 * hearing from a majority in response to a heartbeat sent after the request arrived.
 * Each request gets a fresh round tag; an acknowledgement of round `c` confirms every
 * request with a tag <= `c` (they were all queued before round `c` went out).
 */
export class ReadOnlyQueue {
  private queue: PendingRead[] = [];
  private lastContext = 0;

  /** Queues a read; returns the heartbeat round tag to broadcast. */
  add(requestId: string, from: NodeId, index: number, self: NodeId): number {
    const context = ++this.lastContext;
    this.queue.push({ requestId, from, index, context, acks: new Set([self]) });
    return context;
  }

  /** Tag of the newest pending read (0 if none): sent with regular heartbeats too. */
  latestContext(): number {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1].context : 0;
  }

  /** Records `from`'s acknowledgement of round `context`. */
  ack(from: NodeId, context: number): void {
    if (context === 0) return;
    for (const read of this.queue) {
      if (read.context > context) break;
      read.acks.add(from);
    }
  }

  /** Removes and returns, oldest first, the reads confirmed by `isQuorum`. */
  takeConfirmed(isQuorum: (acks: ReadonlySet<NodeId>) => boolean): ConfirmedRead[] {
    let n = 0;
    while (n < this.queue.length && isQuorum(this.queue[n].acks)) n++;
    const done = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    return done.map(({ requestId, from, index }) => ({ requestId, from, index }));
  }

  clear(): void {
    this.queue = [];
  }
}
