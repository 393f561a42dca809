/**
 * Heartbeats and task reports of every agent of this process on one store, batched: agents are
 * grouped into shards of at most SHARD_NODES nodes, and each shard is one record
 * (`<prefix>/agents/<sender>`) rewritten once per period and whenever one of its nodes' tasks
 * changed (coalesced: one write in flight per shard, the latest state wins). So a process running
 * many agents (issue 18's scale run) costs one small write per shard per period, not one per
 * agent — swarmkit's dispatcher batches the same way.
 */
import { newId } from '../network-state/ids.js';
import type { Layout } from '../network-state/layout.js';
import { withTimeout } from '../store/signals.js';
import type { Store } from '../store/types.js';
import { encodeAgentRecord, type NodeReport } from './wire.js';

/** Nodes per record: keeps each record small (a few tens of KiB) whatever the process runs. */
export const SHARD_NODES = 256;
/** Writes a left node stays in its record, so the manager sees it even if it skips a version. */
const LEFT_WRITES = 3;

export interface BeatMember {
  /** The node's current report (its tasks' states). */
  report(): NodeReport;
  onError(err: unknown): void;
}

interface Member extends BeatMember {
  leftWrites?: number;
}

class Shard {
  readonly key: string;
  readonly members = new Map<string, Member>();
  #writing: Promise<void> | null = null;
  #again = false;

  constructor(
    readonly writer: BeatWriter,
    key: string,
  ) {
    this.key = key;
  }

  /** Writes now, or right after the write in flight. Resolves once what was asked is written. */
  flush(): Promise<void> {
    if (this.#writing) {
      this.#again = true;
      return this.#writing;
    }
    this.#writing = (async () => {
      do {
        this.#again = false;
        await this.#write();
      } while (this.#again);
      this.#writing = null;
    })();
    return this.#writing;
  }

  async #write(): Promise<void> {
    const nodes = new Map<string, NodeReport>();
    for (const [nodeId, m] of this.members) {
      if (m.leftWrites !== undefined) {
        nodes.set(nodeId, { left: true, tasks: new Map() });
        if (++m.leftWrites >= LEFT_WRITES) this.members.delete(nodeId);
      } else {
        nodes.set(nodeId, m.report());
      }
    }
    const record = encodeAgentRecord({ periodMs: this.writer.periodMs, nodes });
    try {
      // A write that hangs must not stop the beats: give up after a period (the next one retries).
      await withTimeout(
        this.writer.store.put(this.key, record),
        Math.max(this.writer.periodMs, 1000),
        'heartbeat write',
      );
    } catch (err) {
      for (const m of this.members.values()) m.onError(err);
    }
  }
}

/** One per (store, prefix, period) in this process; agents join and leave it. */
export class BeatWriter {
  readonly #shards: Shard[] = [];
  readonly #byNode = new Map<string, Shard>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly store: Store,
    readonly layout: Layout,
    readonly periodMs: number,
    readonly onEmpty: () => void,
  ) {}

  /** Adds a node; its first beat is written at once. */
  join(nodeId: string, member: BeatMember): void {
    let shard = this.#shards.find((s) => s.members.size < SHARD_NODES);
    if (!shard) {
      shard = new Shard(this, this.layout.agent(newId()));
      this.#shards.push(shard);
    }
    shard.members.set(nodeId, member);
    this.#byNode.set(nodeId, shard);
    this.#timer ??= setInterval(() => {
      for (const s of this.#shards) void s.flush();
    }, this.periodMs);
    void shard.flush();
  }

  /** The node's tasks changed: its shard is written now (coalesced). */
  changed(nodeId: string): void {
    void this.#byNode.get(nodeId)?.flush();
  }

  /** The node leaves: written as `left` (the manager marks it down at once), then dropped. */
  async leave(nodeId: string): Promise<void> {
    const shard = this.#byNode.get(nodeId);
    const member = shard?.members.get(nodeId);
    if (!shard || !member) return;
    this.#byNode.delete(nodeId);
    member.leftWrites = 0;
    await shard.flush();
    if (this.#byNode.size === 0) {
      // Last one out: write the remaining left marks, then stop.
      while (shard.members.size > 0) await shard.flush();
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.onEmpty();
    }
  }
}

const writers = new WeakMap<Store, Map<string, BeatWriter>>();

/** The process's writer for this store, prefix and period (made on first use). */
export function beatWriterFor(store: Store, layout: Layout, periodMs: number): BeatWriter {
  let byKey = writers.get(store);
  if (!byKey) writers.set(store, (byKey = new Map()));
  const key = `${layout.root}\u0000${periodMs}`;
  let writer = byKey.get(key);
  if (!writer) {
    const made = new BeatWriter(store, layout, periodMs, () => byKey.delete(key));
    byKey.set(key, made);
    writer = made;
  }
  return writer;
}
