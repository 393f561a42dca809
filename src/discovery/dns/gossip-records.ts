/**
 * The DNS view of a gossip member's `endpoint_table`s (libnetwork answers its embedded DNS from
 * NetworkDB the same way): the same DnsService shapes as state-records.ts, so one responder
 * serves both with the same rules. Which tasks are there is the publishers' rule: an agent
 * publishes only running tasks not told to shut down, and a failed member's entries are hidden
 * (moby#35548's "a dead node's tasks leave DNS"), shown again when it returns.
 */

import type { Gossip } from '../../gossip/runtime/gossip.js';
import { decodeTaskEntry, TASK_TABLE, type TaskEntry } from '../../gossip/task-entry.js';
import { InvalidArgumentError } from '../../store/errors.js';
import type { DnsService } from './records.js';
import type { DnsRecordFeed } from './server.js';

/** What records need of a member. */
type TableReader = Pick<Gossip, 'entries'>;

/** How often a feed that follows every network looks for networks it is not on yet (ms). */
const NETWORK_POLL_MS = 1_000;
/** How long a feed waits for the first sync of its networks before answering anyway (ms). */
const FIRST_SYNC_WAIT_MS = 5_000;

interface Collected {
  signature: string[];
  entries: { networkId: string; taskId: string; entry: TaskEntry }[];
}

/**
 * Services from the task entries of the given networks. A service whose entries are the same
 * as in the previous call gets the same DnsService object back, so the record builder
 * re-derives only what changed. Services have no creation time in gossip (Swarm's service
 * names are unique, so the older-wins rule has nothing to decide); ties go by id.
 */
export class GossipRecords {
  #before = new Map<string, { signature: string; dns: DnsService }>();

  services(gossip: TableReader, networkIds: readonly string[]): DnsService[] {
    const byService = new Map<string, Collected>();
    for (const networkId of networkIds) {
      for (const { key: taskId, value, owner } of gossip.entries(networkId, TASK_TABLE)) {
        const entry = decodeTaskEntry(value);
        if (!entry) continue;
        let c = byService.get(entry.serviceId);
        if (!c) byService.set(entry.serviceId, (c = { signature: [], entries: [] }));
        c.signature.push(`${networkId}\u0000${taskId}\u0000${owner}\u0000${new TextDecoder().decode(value)}`);
        c.entries.push({ networkId, taskId, entry });
      }
    }
    const now = new Map<string, { signature: string; dns: DnsService }>();
    for (const serviceId of [...byService.keys()].sort()) {
      const c = byService.get(serviceId) as Collected;
      const signature = c.signature.sort().join('\u0001');
      const previous = this.#before.get(serviceId);
      now.set(serviceId, {
        signature,
        dns: previous?.signature === signature ? previous.dns : toDnsService(serviceId, c),
      });
    }
    this.#before = now;
    return [...now.values()].map((s) => s.dns);
  }
}

function toDnsService(serviceId: string, c: Collected): DnsService {
  const s: DnsService = {
    id: serviceId,
    name: '',
    endpointMode: 'dnsrr',
    vips: [],
    tasks: [],
    createdAt: '',
  };
  const ordered = [...c.entries].sort(
    (a, b) =>
      a.entry.slot - b.entry.slot ||
      a.taskId.localeCompare(b.taskId) ||
      a.networkId.localeCompare(b.networkId),
  );
  for (const { networkId, taskId, entry } of ordered) {
    s.name ||= entry.service;
    if (entry.vip && !s.vips.some((v) => v.networkId === networkId)) {
      s.endpointMode = 'vip';
      s.vips.push({ network: entry.network, networkId, address: entry.vip });
    }
    const addresses = entry.addresses.map((address) => ({ network: entry.network, networkId, address }));
    const task = s.tasks.find((t) => t.id === taskId);
    if (task) task.addresses.push(...addresses);
    else s.tasks.push({ id: taskId, slot: entry.slot, addresses });
  }
  return s;
}

/** DNS services from the task entries this member holds on `networkIds` (malformed entries skipped). */
export function servicesFromGossip(gossip: TableReader, networkIds: readonly string[]): DnsService[] {
  return new GossipRecords().services(gossip, networkIds);
}

/**
 * A record feed (startDnsServer's `feed`; its `gossip` option uses it) from a member's tables.
 * With `networkIds` it joins those networks; without, it follows every network any member of
 * the cluster is attached to (a DNS server for all of them, as the Store's serves all). It
 * yields once the first sync of each network is done (or after 5 s), then after every change,
 * coalesced. Only members of a network learn its entries, so the member must be on it.
 */
export function gossipDnsFeed(gossip: Gossip, networkIds?: readonly string[]): DnsRecordFeed {
  if (networkIds !== undefined) {
    if (!Array.isArray(networkIds) || networkIds.length === 0)
      throw new InvalidArgumentError('gossipDnsFeed: give at least one network id, or none to follow all');
    for (const id of networkIds)
      if (typeof id !== 'string' || id.length === 0)
        throw new InvalidArgumentError('gossipDnsFeed: network ids are non-empty strings');
  }
  return async function* feed(signal, onError) {
    const records = new GossipRecords();
    const followed: string[] = [];
    const watches: Promise<void>[] = [];
    let wake: (() => void) | null = null;
    let changed = true;
    const notify = (): void => {
      changed = true;
      wake?.();
    };
    const follow = async (id: string): Promise<void> => {
      if (followed.includes(id)) return;
      await gossip.joinNetwork(id);
      followed.push(id);
      watches.push(
        (async () => {
          try {
            for await (const _ of gossip.watch(id, TASK_TABLE, { signal })) notify();
          } catch (err) {
            if (!signal.aborted) onError(err);
          }
        })(),
      );
      notify();
    };
    const discover = async (): Promise<void> => {
      try {
        for (const n of gossip.networks()) await follow(n.network);
      } catch (err) {
        if (!signal.aborted) onError(err);
      }
    };
    signal.addEventListener('abort', notify, { once: true });
    const poll = networkIds === undefined ? setInterval(() => void discover(), NETWORK_POLL_MS) : null;
    poll?.unref();
    try {
      if (networkIds === undefined) await discover();
      else for (const id of networkIds) await follow(id);
      await firstSyncs(gossip, followed, signal);
      while (!signal.aborted) {
        if (!changed) await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        if (signal.aborted) break;
        changed = false;
        yield records.services(gossip, followed);
      }
    } finally {
      if (poll) clearInterval(poll);
      signal.removeEventListener('abort', notify);
      await Promise.allSettled(watches);
    }
  };
}

/** Waits (bounded) until every followed network with other members has had a sync, so the first answers are whole. */
async function firstSyncs(gossip: Gossip, networks: readonly string[], signal: AbortSignal): Promise<void> {
  const deadline = performance.now() + FIRST_SYNC_WAIT_MS;
  while (!signal.aborted && performance.now() < deadline) {
    const stats = gossip.networks();
    const pending = networks.some((id) => {
      const n = stats.find((s) => s.network === id);
      return n !== undefined && n.members > 1 && n.syncs + n.syncFailures === 0;
    });
    if (!pending) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
