import type { Message } from '../raft/core/index.js';

/**
 * Round-trip times to peers, from the heartbeats the leader sends anyway: a peer's heartbeat
 * answer is matched with the last heartbeat sent to it (heartbeats go out every tick, so the
 * answer is to that one unless the trip took longer than a tick; such a trip reads short, the
 * next ones catch up). etcd measures the same with a prober (rafthttp/probing_status.go);
 * heartbeats cost nothing extra. Only a leader sends heartbeats, so only a leader observes.
 */
export class PeerRoundTrips {
  readonly #sentAtMs = new Map<string, number>();
  readonly #now: () => number;
  readonly #record: (peer: string, seconds: number) => void;

  constructor(record: (peer: string, seconds: number) => void, now: () => number = () => performance.now()) {
    this.#record = record;
    this.#now = now;
  }

  sent(messages: readonly Message[]): void {
    for (const m of messages) if (m.type === 'heartbeat') this.#sentAtMs.set(m.to, this.#now());
  }

  received(message: Message): void {
    if (message.type !== 'heartbeatResp') return;
    const sentAt = this.#sentAtMs.get(message.from);
    if (sentAt === undefined) return;
    this.#sentAtMs.delete(message.from);
    this.#record(message.from, (this.#now() - sentAt) / 1000);
  }
}
