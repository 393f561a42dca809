import { type ConfChange, type NodeId, type ProposalResult, RaftError } from '../core/index.js';
import type { SimCluster } from './cluster.js';

export interface NemesisOptions {
  /** Voter count limits for membership changes. */
  minVoters: number;
  maxVoters: number;
  maxLearners: number;
}

interface PendingRemoval {
  id: NodeId;
  index: number;
}

/**
 * The fault injector: each `step()` does one random thing to the cluster — partition it
 * (symmetric, asymmetric, bridge), heal it, crash or restart a node, change membership
 * (add a learner, promote one, remove a member), or move leadership. Every action is
 * logged in `trace` with its virtual time, for replaying a failing seed.
 */
export class Nemesis {
  readonly trace: string[] = [];
  private removals: PendingRemoval[] = [];
  readonly stats = { actions: 0, crashes: 0, partitions: 0, confChanges: 0, transfers: 0 };

  constructor(
    private readonly cluster: SimCluster,
    private readonly opts: NemesisOptions,
  ) {}

  step(): void {
    const actions: [number, () => string | null][] = [
      [3, () => this.partitionRandom()],
      [2, () => this.isolateLeader()],
      [2, () => this.asymmetric()],
      [1, () => this.bridge()],
      [4, () => this.heal()],
      [2, () => this.crashRandom()],
      [2, () => this.crashLeader()],
      [4, () => this.restartRandom()],
      [2, () => this.addLearner()],
      [3, () => this.promoteLearner()],
      [2, () => this.removeMember()],
      [1, () => this.transferLeadership()],
    ];
    const total = actions.reduce((sum, [w]) => sum + w, 0);
    let roll = this.cluster.rng.next() * total;
    for (const [weight, action] of actions) {
      roll -= weight;
      if (roll < 0) {
        const done = action();
        if (done) {
          this.stats.actions++;
          this.log(done);
        }
        return;
      }
    }
  }

  /** End of the fault phase: heal everything and restart every crashed member. */
  healAll(): void {
    this.cluster.network.heal();
    for (const node of this.cluster.nodes.values()) if (!node.retired && !node.up) node.start();
    this.log('heal all, restart all');
  }

  /**
   * Shuts down servers whose removal is committed, as an operator would: a removed server
   * that never learned of its removal keeps campaigning, and only PreVote/CheckQuorum stop
   * it from disrupting the cluster. A removal counts as committed once some running node
   * has a committed configuration, at or after the removal's index, without the server
   * (ids are never reused, so such a configuration proves the removal took effect).
   */
  retireRemovedNodes(): void {
    this.removals = this.removals.filter((r) => {
      for (const node of this.cluster.upNodes()) {
        const core = node.core;
        if (!core) continue;
        const commit = core.status().commit;
        if (commit < r.index) continue;
        const conf = core.confStateAt(commit);
        if (conf.voters.includes(r.id) || conf.learners.includes(r.id)) continue;
        const removed = this.cluster.nodes.get(r.id);
        if (removed && !removed.retired) {
          removed.retire();
          this.log(`retire ${r.id} (removal committed)`);
        }
        return false;
      }
      return true;
    });
  }

  private log(what: string): void {
    this.cluster.debug(`NEMESIS ${what}`);
    this.trace.push(`${this.cluster.queue.now.toFixed(1)}ms ${what}`);
  }

  private allIds(): string[] {
    return [...this.cluster.nodes.values()].filter((n) => !n.retired).map((n) => n.id);
  }

  private pick<T>(items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.cluster.rng.nextInt(items.length)];
  }

  private shuffled(items: string[]): string[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.cluster.rng.nextInt(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  private partitionRandom(): string | null {
    const ids = this.shuffled(this.allIds());
    if (ids.length < 2) return null;
    const cut = 1 + this.cluster.rng.nextInt(ids.length - 1);
    const groups = [ids.slice(0, cut), ids.slice(cut)];
    this.cluster.network.partition(groups);
    this.stats.partitions++;
    return `partition ${groups.map((g) => `[${g.join(' ')}]`).join(' | ')}`;
  }

  private isolateLeader(): string | null {
    const leader = this.cluster.leader();
    if (!leader) return null;
    const others = this.allIds().filter((id) => id !== leader.node.id);
    this.cluster.network.partition([[leader.node.id], others]);
    this.stats.partitions++;
    return `isolate leader ${leader.node.id}`;
  }

  private asymmetric(): string | null {
    const ids = this.shuffled(this.allIds());
    if (ids.length < 2) return null;
    const [from, ...rest] = ids;
    // Cut `from`'s outgoing links to some of the others (it still hears them).
    const targets = rest.slice(0, 1 + this.cluster.rng.nextInt(rest.length));
    for (const to of targets) this.cluster.network.blockOneWay(from, to);
    this.stats.partitions++;
    return `one-way ${from} -/-> [${targets.join(' ')}]`;
  }

  private bridge(): string | null {
    const ids = this.shuffled(this.allIds());
    if (ids.length < 3) return null;
    const [middle, ...rest] = ids;
    const half = Math.ceil(rest.length / 2);
    const left = rest.slice(0, half);
    const right = rest.slice(half);
    this.cluster.network.bridge(left, middle, right);
    this.stats.partitions++;
    return `bridge [${left.join(' ')}] <- ${middle} -> [${right.join(' ')}]`;
  }

  private heal(): string | null {
    if (!this.cluster.network.partitioned) return null;
    this.cluster.network.heal();
    return 'heal';
  }

  private crashRandom(): string | null {
    const node = this.pick(this.cluster.upNodes());
    if (!node) return null;
    node.crash();
    this.stats.crashes++;
    return `crash ${node.id}`;
  }

  private crashLeader(): string | null {
    const leader = this.cluster.leader();
    if (!leader) return null;
    leader.node.crash();
    this.stats.crashes++;
    return `crash leader ${leader.node.id}`;
  }

  private restartRandom(): string | null {
    const node = this.pick([...this.cluster.nodes.values()].filter((n) => !n.up && !n.retired));
    if (!node) return null;
    node.start();
    return `restart ${node.id}`;
  }

  private addLearner(): string | null {
    const leader = this.cluster.leader();
    if (!leader || leader.status.confState.learners.length >= this.opts.maxLearners) return null;
    const [id] = this.cluster.peekIds(1);
    const result = this.tryConfChange(leader.node.id, { type: 'addLearner', nodeId: id, context: null });
    if (!result) return null;
    this.cluster.createNode([]).start();
    return `add learner ${id} at ${result.index}`;
  }

  private promoteLearner(): string | null {
    const leader = this.cluster.leader();
    if (!leader || leader.status.confState.voters.length >= this.opts.maxVoters) return null;
    const progress = leader.status.progress ?? {};
    const ready = leader.status.confState.learners.filter(
      (id) => progress[id]?.match >= leader.status.commit,
    );
    const id = this.pick(ready);
    if (!id) return null;
    const result = this.tryConfChange(leader.node.id, { type: 'addVoter', nodeId: id, context: null });
    return result ? `promote ${id} at ${result.index}` : null;
  }

  private removeMember(): string | null {
    const leader = this.cluster.leader();
    if (!leader) return null;
    const { voters, learners } = leader.status.confState;
    const candidates = [...learners, ...(voters.length > this.opts.minVoters ? voters : [])];
    const id = this.pick(candidates);
    if (!id) return null;
    const result = this.tryConfChange(leader.node.id, { type: 'removeNode', nodeId: id, context: null });
    if (!result) return null;
    this.removals.push({ id, index: result.index });
    return `remove ${id} at ${result.index}${id === leader.node.id ? ' (the leader)' : ''}`;
  }

  private transferLeadership(): string | null {
    const leader = this.cluster.leader();
    if (!leader) return null;
    const to = this.pick(leader.status.confState.voters.filter((id) => id !== leader.node.id));
    if (!to) return null;
    leader.node.transferLeadership(to);
    this.stats.transfers++;
    return `transfer leadership ${leader.node.id} -> ${to}`;
  }

  private tryConfChange(leaderId: string, change: ConfChange): ProposalResult | null {
    const node = this.cluster.nodes.get(leaderId);
    if (!node) return null;
    try {
      const result = node.proposeConfChange(change);
      if (result) this.stats.confChanges++;
      return result;
    } catch (err) {
      if (err instanceof RaftError) return null;
      throw err;
    }
  }
}
