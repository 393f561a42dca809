/**
 * Service discovery over gossip (NetworkDB's endpoint_table): an agent publishes, per network
 * it runs tasks on, one entry per running task; any member on the network builds the DNS
 * records from its local table, so names resolve while the Store is unreachable.
 */

import type { DnsService } from '../discovery/dns/records.js';
import type { DnsRecordFeed } from '../discovery/dns/server.js';
import { InvalidArgumentError } from '../store/errors.js';
import type { Gossip } from './runtime/gossip.js';

/** The table task entries live in (libnetwork's name). */
export const TASK_TABLE = 'endpoint_table';

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

/** What one entry holds (JSON, keyed by task id). */
interface TaskEntry {
  serviceId: string;
  service: string;
  slot: number;
  network: string;
  addresses: string[];
  vip?: string;
}

const encoder = new TextEncoder();
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
        const value = encoder.encode(JSON.stringify(entry));
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

function parseEntry(value: Uint8Array): TaskEntry | null {
  try {
    const e = JSON.parse(decoder.decode(value)) as TaskEntry;
    const ok =
      typeof e.serviceId === 'string' &&
      typeof e.service === 'string' &&
      Number.isInteger(e.slot) &&
      typeof e.network === 'string' &&
      Array.isArray(e.addresses) &&
      e.addresses.every((a) => typeof a === 'string') &&
      (e.vip === undefined || typeof e.vip === 'string');
    return ok ? e : null;
  } catch {
    return null;
  }
}

/** DNS services from the task entries this member holds on `networkIds` (malformed entries skipped). */
export function servicesFromGossip(gossip: Gossip, networkIds: readonly string[]): DnsService[] {
  const services = new Map<string, DnsService>();
  for (const networkId of networkIds) {
    for (const { key: taskId, value } of gossip.entries(networkId, TASK_TABLE)) {
      const e = parseEntry(value);
      if (!e) continue;
      let s = services.get(e.serviceId);
      if (!s) {
        s = { id: e.serviceId, name: e.service, endpointMode: 'dnsrr', vips: [], tasks: [], createdAt: '' };
        services.set(e.serviceId, s);
      }
      if (e.vip && !s.vips.some((v) => v.networkId === networkId)) {
        s.endpointMode = 'vip';
        s.vips.push({ network: e.network, networkId, address: e.vip });
      }
      const addresses = e.addresses.map((address) => ({ network: e.network, networkId, address }));
      const task = s.tasks.find((t) => t.id === taskId);
      if (task) task.addresses.push(...addresses);
      else s.tasks.push({ id: taskId, slot: e.slot, addresses });
    }
  }
  return [...services.values()];
}

/**
 * A DNS record feed (for startDnsServer's `feed`) from the gossip table: joins each network
 * (only members of a network learn its entries) and yields the services again after every
 * change, coalesced.
 */
export function gossipDnsFeed(gossip: Gossip, networkIds: readonly string[]): DnsRecordFeed {
  if (networkIds.length === 0) throw new InvalidArgumentError('gossipDnsFeed needs at least one network id');
  return async function* feed(signal, onError) {
    for (const id of networkIds) await gossip.joinNetwork(id);
    let wake: (() => void) | null = null;
    let changed = true;
    const notify = (): void => {
      changed = true;
      wake?.();
    };
    signal.addEventListener('abort', notify, { once: true });
    const watches = networkIds.map(async (id) => {
      try {
        for await (const _ of gossip.watch(id, TASK_TABLE, { signal })) notify();
      } catch (err) {
        if (!signal.aborted) onError(err);
      }
    });
    try {
      while (!signal.aborted) {
        if (!changed) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        if (signal.aborted) break;
        changed = false;
        yield servicesFromGossip(gossip, networkIds);
      }
    } finally {
      signal.removeEventListener('abort', notify);
      await Promise.allSettled(watches);
    }
  };
}
