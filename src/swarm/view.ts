import { resilientWatch } from '../discovery/resilient-watch.js';
import { DecodedDir } from '../network-state/decoded-dir.js';
import type { Layout } from '../network-state/layout.js';
import type { NetworkRecord, ServiceRecord, TaskRecord } from '../network-state/records.js';
import type { Node } from '../network-state/types.js';
import { whenAborted } from '../store/signals.js';
import type { KVPair, Store } from '../store/types.js';
import { json } from '../store/values.js';
import { type AgentRecord, decodeAgentRecord } from './wire.js';

/**
 * What the acting manager reads everything from: one watchTree per directory, each drained at
 * once into its latest list (a slow pass never builds a backlog of lists) and decoded once per
 * record version. Passes then read memory, not the store; every write they make is still a
 * compare-and-swap against the pair seen here, so a stale view costs a retry, never a wrong write.
 */
export class ManagerView {
  readonly nodes = new DecodedDir<Node>((p) => json<Node>(p));
  readonly tasks = new DecodedDir<TaskRecord>((p) => json<TaskRecord>(p));
  readonly services = new DecodedDir<ServiceRecord>((p) => json<ServiceRecord>(p));
  readonly networks = new DecodedDir<NetworkRecord>((p) => json<NetworkRecord>(p));
  readonly agents = new DecodedDir<AgentRecord>((p) => decodeAgentRecord(json<unknown>(p)));
  /** Agent records written since the last `takeBeats()`: every write is a heartbeat. */
  #beats = new Set<string>();
  readonly #latest = new Map<DecodedDir<unknown>, KVPair[]>();
  readonly #pumps: Promise<void>[] = [];
  readonly #loaded: Promise<void>;
  #onChange: () => void = () => {};

  constructor(store: Store, layout: Layout, signal: AbortSignal, onError: (err: unknown) => void) {
    const dirs: [DecodedDir<unknown>, string][] = [
      [this.nodes, layout.nodes],
      [this.tasks, layout.tasks],
      [this.services, layout.services],
      [this.networks, layout.networks],
      [this.agents, layout.agents],
    ];
    const firsts: Promise<void>[] = [];
    for (const [dir, key] of dirs) {
      let first!: () => void;
      firsts.push(new Promise<void>((resolve) => (first = resolve)));
      this.#pumps.push(
        (async () => {
          const lists = resilientWatch(
            (s) => store.watchTree(key, { signal: s }),
            (list) => list,
            {
              signal,
              onError,
              same: () => false,
            },
          );
          for await (const list of lists) {
            this.#latest.set(dir, list);
            first();
            this.#onChange();
          }
        })().catch(onError),
      );
    }
    // A signal that aborted before this view existed must stop it too, or loaded() never settles.
    this.#loaded = Promise.race([Promise.all(firsts).then(() => undefined), whenAborted(signal)]);
  }

  /** Resolves once every directory has been listed once (or the view stopped). */
  loaded(): Promise<void> {
    return this.#loaded;
  }

  /** Called (synchronously, cheaply) whenever a directory changed. */
  set onChange(fn: () => void) {
    this.#onChange = fn;
  }

  /**
   * Decodes what arrived since the last call. The first agent list only sets the baseline: a
   * record found there was written before this manager acted and is no heartbeat.
   */
  refresh(): void {
    for (const [dir, list] of this.#latest) {
      const first = !dir.loaded;
      const { changed } = dir.update(list);
      if (dir === (this.agents as DecodedDir<unknown>) && !first)
        for (const key of changed) this.#beats.add(key);
    }
    this.#latest.clear();
  }

  /** Keys of the agent records written since the last call. */
  takeBeats(): string[] {
    const beats = [...this.#beats];
    this.#beats.clear();
    return beats;
  }

  /** Waits for every watch to end (after the signal aborted). */
  async closed(): Promise<void> {
    await Promise.allSettled(this.#pumps);
  }
}
