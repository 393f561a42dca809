import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { RaftReplicaNode, type ReplicaNodeOptions } from '../../src/raft/runtime/replica-node.js';
import { isAddressInUse, onFreeLoopbackPorts } from '../../src/raft-node/local-cluster.js';
import { RegisterMachine } from './register-machine.js';
import { tempDir, waitFor } from './support.js';

export interface Member {
  id: string;
  peerAddr: string;
  dataDir: string;
  sm: RegisterMachine;
  node: RaftReplicaNode | null;
  extra: Partial<ReplicaNodeOptions>;
}

/** Fast clocks for tests: 20 ms ticks, elections after 10–19 quiet ticks. */
export const TEST_TIMING = { tickMs: 20, electionTicks: 10, heartbeatTicks: 1 };

/** N real nodes (LMDB on disk, TCP on 127.0.0.1) in this process, with a test state machine. */
export class TestCluster {
  readonly members = new Map<string, Member>();
  readonly logs: string[] = [];
  private readonly dir = tempDir('kvkit-raft-');
  initialCluster = '';

  /** Starts n nodes; a port another process took first means a new cluster on new ports. */
  static start(n: number, extra: Partial<ReplicaNodeOptions> = {}): Promise<TestCluster> {
    return onFreeLoopbackPorts(n, async (ports) => {
      const cluster = new TestCluster();
      const ids = ports.map((_, i) => `n${i + 1}`);
      cluster.initialCluster = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]}`).join(',');
      ids.forEach((id, i) => {
        cluster.members.set(id, {
          id,
          peerAddr: `127.0.0.1:${ports[i]}`,
          dataDir: join(cluster.dir.path, id),
          sm: new RegisterMachine(),
          node: null,
          extra,
        });
      });
      try {
        await Promise.all(ids.map((id) => cluster.startNode(id)));
      } catch (err) {
        await cluster.close();
        throw err;
      }
      return cluster;
    });
  }

  options(m: Member): ReplicaNodeOptions {
    return {
      id: m.id,
      dataDir: m.dataDir,
      peerAddr: m.peerAddr,
      clientAddr: `client-of-${m.id}:1`,
      initialCluster: m.extra.join ? undefined : this.initialCluster,
      stateMachine: m.sm,
      timing: TEST_TIMING,
      logger: (line) => this.logs.push(line),
      ...m.extra,
    };
  }

  /** Starts (or restarts, with a fresh state machine rebuilt from disk) one node. */
  async startNode(id: string, extra?: Partial<ReplicaNodeOptions>): Promise<RaftReplicaNode> {
    const m = this.member(id);
    if (extra) m.extra = { ...m.extra, ...extra };
    m.sm = new RegisterMachine();
    m.node = await RaftReplicaNode.start(this.options(m));
    await m.node.ensureJoined();
    return m.node;
  }

  /** Adds a new member that will join through `via`'s admin. */
  async addJoiner(
    id: string,
    via: () => RaftReplicaNode,
    extra: Partial<ReplicaNodeOptions> = {},
  ): Promise<RaftReplicaNode> {
    return onFreeLoopbackPorts(1, async ([port]) => {
      this.members.set(id, {
        id,
        peerAddr: `127.0.0.1:${port}`,
        dataDir: join(this.dir.path, id),
        sm: new RegisterMachine(),
        node: null,
        extra: { ...extra, join: (member) => via().addMember(member) },
      });
      try {
        return await this.startNode(id);
      } catch (err) {
        if (isAddressInUse(err)) this.wipe(id); // the retry joins afresh on another port
        throw err;
      }
    });
  }

  async stopNode(id: string): Promise<void> {
    const m = this.member(id);
    await m.node?.close();
    m.node = null;
  }

  wipe(id: string): void {
    rmSync(this.member(id).dataDir, { recursive: true, force: true });
  }

  member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: string): RaftReplicaNode {
    const n = this.member(id).node;
    if (!n) throw new Error(`${id} is not running`);
    return n;
  }

  running(): RaftReplicaNode[] {
    return [...this.members.values()].flatMap((m) => (m.node && !m.node.closed ? [m.node] : []));
  }

  /** Waits until exactly one running node leads and every running voter agrees on it. */
  async leader(timeoutMs = 15_000): Promise<RaftReplicaNode> {
    let found: RaftReplicaNode | null = null;
    await waitFor(
      () => {
        const nodes = this.running();
        const leaders = nodes.filter((n) => n.isLeader());
        if (leaders.length !== 1) return false;
        const lead = leaders[0];
        const voters = new Set(
          lead
            .members()
            .filter((m) => m.voter)
            .map((m) => m.id),
        );
        const agree = nodes
          .filter((n) => voters.has(n.id))
          .every((n) => n.status().leader === lead.id && n.status().term === lead.status().term);
        if (agree) found = lead;
        return agree;
      },
      'a leader',
      timeoutMs,
    );
    return found as unknown as RaftReplicaNode;
  }

  followers(leader: RaftReplicaNode): RaftReplicaNode[] {
    return this.running().filter((n) => n !== leader);
  }

  /** Waits until every running node has applied at least `index`. */
  async applied(index: number, nodes = this.running()): Promise<void> {
    await waitFor(() => nodes.every((n) => n.status().appliedIndex >= index), `apply of index ${index}`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.node?.close()));
    this.dir.remove();
  }
}
