import { Channel } from '../store/channel.js';
import { anySignal } from '../store/signals.js';
import type { KVPair, Store } from '../store/types.js';
import { json } from '../store/values.js';
import { DecodedDir } from './decoded-dir.js';
import type { Layout } from './layout.js';
import { publicNetwork, publicService, publicTask, type ServiceRecord, type TaskRecord } from './records.js';
import type { Network, Node, Service, Task } from './types.js';

/** Everything network state holds that readers (DNS, a scheduler) follow, as of one moment. */
export interface NetworkStateSnapshot {
  networks: Network[];
  /** Services not being removed. */
  services: Service[];
  /** The current task of every slot (replaced tasks shutting down are not here). */
  tasks: Task[];
  /** Worker nodes and their states (what DNS checks "running on a ready node" against). */
  nodes: Node[];
}

type Part = 'networks' | 'services' | 'tasks' | 'nodes';

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
  const parts = {
    networks: new PartDecoder(publicNetwork),
    services: new PartDecoder((s: ServiceRecord) => (s.status === 'removing' ? null : publicService(s))),
    tasks: new PartDecoder((t: TaskRecord) => publicTask(t)),
    nodes: new PartDecoder((n: Node) => n),
  };
  const pump = async (part: Part, dir: string) => {
    try {
      for await (const list of store.watchTree(dir, { signal: until })) {
        parts[part].latest = list;
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
    pump('nodes', layout.nodes),
  ];
  try {
    for await (const _ of changed) {
      if (until.aborted) return;
      const networks = parts.networks.values();
      const services = parts.services.values();
      const tasks = parts.tasks.values();
      const nodes = parts.nodes.values();
      if (!networks || !services || !tasks || !nodes) continue;
      yield { networks, services, tasks, nodes };
    }
  } finally {
    stop.abort();
    await Promise.allSettled(pumps);
  }
}

/** One watched directory as the snapshot shows it: the latest list, decoded when asked. */
class PartDecoder<R, T> {
  latest: KVPair[] | null = null;
  readonly #dir: DecodedDir<T>;

  constructor(shape: (record: R) => T | null) {
    this.#dir = new DecodedDir((pair) => shape(json<R>(pair)));
  }

  /** The decoded records of the latest list; null before the first. */
  values(): T[] | null {
    if (this.latest === null) return null;
    this.#dir.update(this.latest);
    return this.#dir.values();
  }
}
