/**
 * A synchronous test network of RaftCores: each node persists its Ready to a
 * MemoryRaftStorage, queues its messages, applies committed entries and advances.
 * Tests decide when messages are delivered (`deliverAll`, `deliver`), which are dropped
 * (`isolate`, `dropIf`), and when time passes (`tick`).
 */
import {
  type ConfState,
  createRng,
  type Entry,
  MemoryRaftStorage,
  type Message,
  type RaftConfig,
  RaftCore,
  type ReadState,
  type Ready,
} from '../../src/raft/core/index.js';

export type TestConfig = Omit<RaftConfig, 'id' | 'storage'>;

export interface TestNode {
  id: string;
  core: RaftCore;
  storage: MemoryRaftStorage;
  applied: Entry[];
  readStates: ReadState[];
  /** Every Ready this node produced (for contract assertions). */
  readies: Ready[];
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export class TestNetwork {
  readonly nodes = new Map<string, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message ever sent (after persistence), for assertions. */
  sent: Message[] = [];
  private blocked = new Set<string>();
  private dropFilter: ((m: Message) => boolean) | null = null;

  constructor(
    ids: string[],
    private readonly config: TestConfig = {},
    learners: string[] = [],
  ) {
    for (const id of ids) this.add(id, { voters: ids, learners });
    for (const id of learners) this.add(id, { voters: ids, learners });
  }

  /** Adds a node: with `conf`, a founding member; without, an empty joiner. */
  add(id: string, conf?: ConfState, config: TestConfig = {}): TestNode {
    const storage = new MemoryRaftStorage(conf);
    const node = this.makeNode(id, storage, config);
    this.nodes.set(id, node);
    return node;
  }

  /** Crash and restart: the node keeps only its storage. */
  restart(id: string, config: TestConfig = {}): TestNode {
    const old = this.get(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    const node = this.makeNode(id, old.storage, config);
    this.nodes.set(id, node);
    return node;
  }

  private makeNode(id: string, storage: MemoryRaftStorage, config: TestConfig): TestNode {
    const core = new RaftCore({
      rng: createRng(id.charCodeAt(id.length - 1)),
      ...this.config,
      ...config,
      id,
      storage,
    });
    return { id, core, storage, applied: [], readStates: [], readies: [] };
  }

  get(id: string): TestNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  core(id: string): RaftCore {
    return this.get(id).core;
  }

  /** Handles every pending Ready of every node (persist, send, apply, advance). */
  flush(): void {
    for (let progress = true; progress; ) {
      progress = false;
      for (const node of this.nodes.values()) {
        while (node.core.hasReady()) {
          progress = true;
          this.handleReady(node);
        }
      }
    }
  }

  private handleReady(node: TestNode): void {
    const rd = node.core.ready();
    node.readies.push(rd);
    node.storage.persist(rd);
    for (const m of rd.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    node.applied.push(...rd.committedEntries);
    node.readStates.push(...rd.readStates);
    node.core.advance(rd);
  }

  /** Delivers queued messages (and what they trigger) until the network is quiet. */
  deliverAll(maxRounds = 10_000): void {
    this.flush();
    for (let round = 0; this.queue.length > 0; round++) {
      if (round > maxRounds) throw new Error('network did not settle');
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.deliverOne(m);
      this.flush();
    }
  }

  /** Delivers only the queued messages matching `filter` (once), keeping the others queued. */
  deliver(filter: (m: Message) => boolean): Message[] {
    this.flush();
    const picked = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    for (const m of picked) this.deliverOne(m);
    this.flush();
    return picked;
  }

  /** Removes queued messages matching `filter` without delivering them. */
  drop(filter: (m: Message) => boolean): Message[] {
    this.flush();
    const dropped = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    return dropped;
  }

  private deliverOne(m: Message): void {
    if (this.blocked.has(`${m.from}>${m.to}`)) return;
    if (this.dropFilter?.(m)) return;
    const node = this.nodes.get(m.to);
    if (!node) return;
    node.core.step(m);
  }

  /** Cuts `id` off from everyone, both ways. */
  isolate(id: string): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.blocked.add(`${id}>${other}`);
      this.blocked.add(`${other}>${id}`);
    }
  }

  /** Cuts one direction only. */
  cut(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
    this.dropFilter = null;
  }

  dropIf(filter: (m: Message) => boolean): void {
    this.dropFilter = filter;
  }

  /** Ticks the given nodes (default: all) `n` times, delivering messages after each tick. */
  tick(n: number, ids: string[] = [...this.nodes.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) this.core(id).tick();
      this.deliverAll();
    }
  }

  /** Makes `id` leader by an immediate campaign. */
  elect(id: string): void {
    this.core(id).campaign();
    this.deliverAll();
    const status = this.core(id).status();
    if (status.role !== 'leader') throw new Error(`${id} did not become leader (${status.role})`);
  }

  propose(id: string, text: string): void {
    this.core(id).propose(enc(text));
    this.deliverAll();
  }

  /** Normal entries with data, as text, that `id` applied. */
  appliedData(id: string): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === 'normal' && e.data.byteLength > 0)
      .map((e) => dec(e.data));
  }

  /** Clears the record of sent messages. */
  clearSent(): void {
    this.sent = [];
  }
}

export function ofType<T extends Message['type']>(messages: Message[], type: T): (Message & { type: T })[] {
  return messages.filter((m): m is Message & { type: T } => m.type === type);
}
