/**
 * Service discovery over gossip (NetworkDB's endpoint_table): an agent publishes, per network
 * it runs tasks on, one entry per running task; any member on the network builds the DNS
 * records from its local table, so names resolve while the Store is unreachable.
 */

import type { Gossip } from './runtime/gossip.js';
import { encodeTaskEntry, TASK_TABLE, type TaskEntry } from './task-entry.js';

export { gossipDnsFeed, servicesFromGossip } from '../discovery/dns/gossip-records.js';
export { TASK_TABLE };

/** A task as an agent knows it (swarm's AgentTask fits: `onRunningTasks: (ts) => publisher.update(ts)`). */
export interface GossipTask {
  id: string;
  /** Default: the service name. */
  serviceId?: string;
  service: string;
  slot: number;
  state: string;
  networks: { networkId: string; network: string; addresses: string[]; vip?: string }[];
}

const decoder = new TextDecoder();
const withoutPrefix = (cidr: string): string => cidr.split('/')[0];

/**
 * Keeps this member's entries equal to its running tasks: `update(tasks)` (synchronous, as
 * the agent's onRunningTasks hook calls it) queues the change; writes run one at a time, the
 * latest set winning. Networks with a task are joined; entries of tasks gone are deleted; a
 * network this publisher joined is left once its last task there is gone (as a Docker node
 * leaves an overlay's NetworkDB when its last container on it stops), so the member learns
 * only the networks it runs tasks on.
 */
export class TaskPublisher {
  private latest: readonly GossipTask[] | null = null;
  private running: Promise<void> | null = null;
  private published = new Map<string, Set<string>>();
  /** Networks joined by this publisher (not those the member was on already). */
  private readonly joinedHere = new Set<string>();

  constructor(
    private readonly gossip: Gossip,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  update(tasks: readonly GossipTask[]): void {
    this.latest = tasks;
    if (!this.running) this.running = this.drain().finally(() => (this.running = null));
  }

  /** Resolves once every update so far is written. */
  async flushed(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.latest) {
      const tasks = this.latest;
      this.latest = null;
      try {
        await this.apply(tasks);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private async apply(tasks: readonly GossipTask[]): Promise<void> {
    const wanted = new Map<string, Map<string, TaskEntry>>();
    for (const t of tasks) {
      if (t.state !== 'running') continue;
      for (const n of t.networks) {
        let byTask = wanted.get(n.networkId);
        if (!byTask) wanted.set(n.networkId, (byTask = new Map()));
        byTask.set(t.id, {
          serviceId: t.serviceId ?? t.service,
          service: t.service,
          slot: t.slot,
          network: n.network,
          addresses: n.addresses.map(withoutPrefix),
          ...(n.vip ? { vip: withoutPrefix(n.vip) } : {}),
        });
      }
    }
    for (const [networkId, byTask] of wanted) {
      if (!this.joinedHere.has(networkId) && !this.isOn(networkId)) {
        await this.gossip.joinNetwork(networkId);
        this.joinedHere.add(networkId);
      }
      for (const [taskId, entry] of byTask) {
        const value = encodeTaskEntry(entry);
        const current = this.gossip.getEntry(networkId, TASK_TABLE, taskId);
        if (current === null || decoder.decode(current) !== decoder.decode(value))
          await this.gossip.setEntry(networkId, TASK_TABLE, taskId, value);
      }
    }
    for (const [networkId, taskIds] of this.published) {
      for (const taskId of taskIds) {
        if (!wanted.get(networkId)?.has(taskId)) await this.gossip.deleteEntry(networkId, TASK_TABLE, taskId);
      }
    }
    this.published = new Map([...wanted].map(([id, byTask]) => [id, new Set(byTask.keys())]));
    for (const networkId of [...this.joinedHere]) {
      if (wanted.has(networkId)) continue;
      this.joinedHere.delete(networkId);
      await this.gossip.leaveNetwork(networkId);
    }
  }

  private isOn(networkId: string): boolean {
    return this.gossip.networks().some((n) => n.network === networkId && n.joined);
  }
}
