import type { CoreEvent } from '../core/core.js';
import type { SimGossipCluster, SimGossipNode } from './cluster.js';

/** A broken invariant: the simulator stops the run and reports it with the seed. */
export class GossipInvariantError extends Error {
  override readonly name = 'GossipInvariantError';
  readonly code = 'INVARIANT_VIOLATED';
}

interface KeyHistory {
  /** Newest version applied (live or deleted). */
  lastLtime: number;
  lastOwner: string;
  /** Newest delete applied. */
  deletedLtime: number;
  deletedOwner: string;
}

function newer(ltime: number, owner: string, thanLtime: number, thanOwner: string): boolean {
  return ltime > thanLtime || (ltime === thanLtime && owner > thanOwner);
}

/**
 * The simulator's invariants, checked as every event happens:
 * - isolation: no table traffic of a network reaches a node that never joined it (in any of
 *   its lives), and no node stores or shows an entry of a network it is not on;
 * - no resurrected deletes: once a node applied an owner's delete of a key, it never applies
 *   an older live version of that owner's record (per life: a restarted process starts empty).
 * Eventual agreement is checked once the faults stop (`agreement`).
 */
export class GossipChecker {
  /** Networks each node name joined in any life. */
  private readonly joinedEver = new Map<string, Set<string>>();
  /** node name → life → "net\0table\0key" → history. */
  private readonly histories = new Map<string, { life: number; keys: Map<string, KeyHistory> }>();
  readonly stats = { recordsApplied: 0, deletesApplied: 0, entryEvents: 0, foreignDrops: 0, declaredDead: 0 };

  constructor(private readonly cluster: SimGossipCluster) {
    cluster.onEvent((node, event) => this.onEvent(node, event));
  }

  /** The driver calls this when a node joins a network (before any traffic can arrive). */
  noteJoin(node: SimGossipNode, network: string): void {
    let set = this.joinedEver.get(node.name);
    if (!set) this.joinedEver.set(node.name, (set = new Set()));
    set.add(network);
  }

  /**
   * The driver calls this when a node leaves a network: it drops every record of it, so what
   * it learns after a rejoin is checked afresh.
   */
  noteLeave(node: SimGossipNode, network: string): void {
    const h = this.histories.get(node.name);
    if (!h) return;
    for (const id of [...h.keys.keys()]) if (id.startsWith(`${network}\u0000`)) h.keys.delete(id);
  }

  private fail(message: string): never {
    throw new GossipInvariantError(`${this.cluster.queue.now.toFixed(1)} ms: ${message}`);
  }

  private onEvent(node: SimGossipNode, event: CoreEvent): void {
    switch (event.kind) {
      case 'foreign':
        this.stats.foreignDrops++;
        if (!this.joinedEver.get(node.name)?.has(event.network)) {
          this.fail(`isolation: table traffic of network ${event.network} reached ${node.name}, never on it`);
        }
        return;
      case 'entry':
        this.stats.entryEvents++;
        if (event.type !== 'delete' && !node.core.isOnNetwork(event.network)) {
          this.fail(
            `isolation: ${node.name} shows ${event.network}/${event.table}/${event.key} but is not on ${event.network}`,
          );
        }
        return;
      case 'declared-dead':
        this.stats.declaredDead++;
        return;
      case 'record':
        this.onRecord(node, event);
        return;
      default:
        return;
    }
  }

  private onRecord(node: SimGossipNode, event: Extract<CoreEvent, { kind: 'record' }>): void {
    this.stats.recordsApplied++;
    if (!node.core.isOnNetwork(event.network)) {
      this.fail(`isolation: ${node.name} stored a record of ${event.network} without being on it`);
    }
    let h = this.histories.get(node.name);
    if (!h || h.life !== node.life) this.histories.set(node.name, (h = { life: node.life, keys: new Map() }));
    const id = `${event.network}\u0000${event.table}\u0000${event.key}\u0000${event.owner}`;
    const k = h.keys.get(id);
    const what = `${node.name}: ${event.network}/${event.table}/${event.key} (${event.ltime}, ${event.owner}) by ${event.via}`;
    if (k) {
      if (!event.deleted && !newer(event.ltime, event.owner, k.deletedLtime, k.deletedOwner)) {
        this.fail(
          `resurrected delete: ${what} applied after the delete (${k.deletedLtime}, ${k.deletedOwner})`,
        );
      }
    }
    const next: KeyHistory = k ?? { lastLtime: 0, lastOwner: '', deletedLtime: 0, deletedOwner: '' };
    if (newer(event.ltime, event.owner, next.lastLtime, next.lastOwner)) {
      next.lastLtime = event.ltime;
      next.lastOwner = event.owner;
    }
    if (event.deleted) {
      this.stats.deletesApplied++;
      if (newer(event.ltime, event.owner, next.deletedLtime, next.deletedOwner)) {
        next.deletedLtime = event.ltime;
        next.deletedOwner = event.owner;
      }
    }
    h.keys.set(id, next);
  }

  /**
   * Eventual agreement, once healed: every running member sees every other running member
   * alive and every stopped one not alive; every running member of a network shows the same
   * entries; no entry of a stopped owner is shown. Returns what is still wrong, or null.
   */
  agreement(): string | null {
    const up = this.cluster.upNodes().filter((n) => n.core.memberState(n.name) !== 'left');
    const down = [...this.cluster.nodes.values()].filter((n) => !up.includes(n));
    for (const a of up) {
      for (const b of up) {
        if (a !== b && a.core.memberState(b.name) !== 'alive') {
          return `membership: ${a.name} sees ${b.name} as ${a.core.memberState(b.name)}`;
        }
      }
      for (const c of down) {
        const state = a.core.memberState(c.name);
        if (state === 'alive' || state === 'suspect')
          return `membership: ${a.name} sees stopped ${c.name} as ${state}`;
      }
    }
    const networks = new Set(up.flatMap((n) => n.core.joinedNetworks()));
    const downNames = new Set(down.map((n) => n.name));
    for (const network of networks) {
      const members = up.filter((n) => n.core.isOnNetwork(network));
      const views = members.map((n) => ({ node: n, view: visibleEntries(n, network) }));
      for (const { node, view } of views) {
        for (const line of view) {
          const owner = line.split('\u0000')[2];
          if (downNames.has(owner))
            return `tables: ${node.name} shows an entry of stopped ${owner} in ${network}`;
        }
      }
      const [first, ...rest] = views;
      for (const other of rest) {
        if (other.view.join('\n') !== first.view.join('\n')) {
          const missing = first.view.filter((l) => !other.view.includes(l)).slice(0, 3);
          const extra = other.view.filter((l) => !first.view.includes(l)).slice(0, 3);
          return `tables: ${first.node.name} and ${other.node.name} disagree on ${network} (${first.view.length} vs ${other.view.length} entries; only at ${first.node.name}: ${fmt(missing)}; only at ${other.node.name}: ${fmt(extra)})`;
        }
      }
    }
    return null;
  }
}

function fmt(lines: string[]): string {
  return lines.map((l) => l.replaceAll('\u0000', '/')).join(', ') || '-';
}

function visibleEntries(node: SimGossipNode, network: string): string[] {
  const core = node.core;
  return core
    .tables(network)
    .flatMap((table) =>
      core
        .entries(network, table)
        .map((e) => `${table}\u0000${e.key}\u0000${e.owner}\u0000${Buffer.from(e.value).toString('hex')}`),
    )
    .sort();
}
