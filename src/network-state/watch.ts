import { Channel } from '../store/channel.js';
import { anySignal } from '../store/signals.js';
import type { KVPair, Store } from '../store/types.js';
import { json } from '../store/values.js';
import type { Layout } from './layout.js';
import { type NetworkRecord, publicNetwork, publicService, type ServiceRecord } from './records.js';
import type { Network, Service, Task } from './types.js';

/** Everything network state holds that readers (DNS, a scheduler) follow, as of one moment. */
export interface NetworkStateSnapshot {
  networks: Network[];
  /** Services not being removed. */
  services: Service[];
  tasks: Task[];
}

type Part = 'networks' | 'services' | 'tasks';

/**
 * Follows networks, services and tasks with one watchTree each and yields a whole snapshot
 * once all three have been read, then after every change. A reader slower than the changes
 * gets the latest snapshot, not a backlog. Records that do not parse are left out (a damaged
 * record must not stop the readers). A store error ends it with that error: re-opening starts
 * from the current state again.
 */
export async function* watchNetworkState(
  store: Store,
  layout: Layout,
  signal: AbortSignal,
): AsyncGenerator<NetworkStateSnapshot, void, undefined> {
  const stop = new AbortController();
  const until = anySignal(signal, stop.signal);
  const changed = new Channel<true>({ signal: until, latestOnly: true });
  const latest: Partial<Record<Part, KVPair[]>> = {};
  const parsed = new Map<string, { lastIndex: number; value: unknown }>();
  const pump = async (part: Part, dir: string) => {
    try {
      for await (const list of store.watchTree(dir, { signal: until })) {
        latest[part] = list;
        changed.push(true);
      }
    } catch (err) {
      changed.fail(err);
    }
  };
  const pumps = [
    pump('networks', layout.networks),
    pump('services', layout.services),
    pump('tasks', layout.tasks),
  ];
  const decode = <T>(pairs: KVPair[]): T[] => {
    const out: T[] = [];
    for (const pair of pairs) {
      let hit = parsed.get(pair.key);
      if (hit?.lastIndex !== pair.lastIndex) {
        try {
          hit = { lastIndex: pair.lastIndex, value: json(pair) };
        } catch {
          continue;
        }
        parsed.set(pair.key, hit);
      }
      out.push(hit.value as T);
    }
    return out;
  };
  try {
    for await (const _ of changed) {
      if (until.aborted) return;
      const { networks, services, tasks } = latest;
      if (!networks || !services || !tasks) continue;
      const keys = new Set([...networks, ...services, ...tasks].map((p) => p.key));
      for (const key of parsed.keys()) if (!keys.has(key)) parsed.delete(key);
      yield {
        networks: decode<NetworkRecord>(networks).map(publicNetwork),
        services: decode<ServiceRecord>(services)
          .filter((s) => s.status !== 'removing')
          .map(publicService),
        tasks: decode<Task>(tasks),
      };
    }
  } finally {
    stop.abort();
    await Promise.allSettled(pumps);
  }
}
