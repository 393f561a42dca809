import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type RaftNode, type RaftNodeOptions, startRaftNode } from '../../src/raft-node/index.js';
import { isAddressInUse, onFreeLoopbackPorts } from '../../src/raft-node/local-cluster.js';
import { tempDir, waitFor } from './support.js';

/** Real kvkit Raft nodes (KV state machine, client ports) in this process. */
export class NodeCluster {
  readonly nodes = new Map<string, RaftNode>();
  readonly logs: string[] = [];
  readonly dir = tempDir('kvkit-raftnode-');
  readonly peer = new Map<string, string>();
  readonly client = new Map<string, string>();
  initialCluster = '';

  /** Starts n nodes; a port another process took first means a new cluster on new ports. */
  static start(n: number, extra: Partial<RaftNodeOptions> = {}): Promise<NodeCluster> {
    return onFreeLoopbackPorts(2 * n, async (ports) => {
      const c = new NodeCluster();
      for (let i = 0; i < n; i++) {
        c.peer.set(`n${i + 1}`, `127.0.0.1:${ports[2 * i]}`);
        c.client.set(`n${i + 1}`, `127.0.0.1:${ports[2 * i + 1]}`);
      }
      c.initialCluster = [...c.peer].map(([id, a]) => `${id}=${a}`).join(',');
      try {
        await Promise.all([...c.peer.keys()].map((id) => c.startNode(id, extra)));
      } catch (err) {
        await c.close();
        throw err;
      }
      return c;
    });
  }

  options(id: string, extra: Partial<RaftNodeOptions> = {}): RaftNodeOptions {
    return {
      id,
      dataDir: join(this.dir.path, id),
      peerAddr: this.peer.get(id) as string,
      clientAddr: this.client.get(id) as string,
      initialCluster: extra.join ? undefined : this.initialCluster,
      timing: { tickMs: 50, electionTicks: 10 },
      logger: (line) => this.logs.push(line),
      ...extra,
    };
  }

  async startNode(id: string, extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
    const node = await startRaftNode(this.options(id, extra));
    this.nodes.set(id, node);
    return node;
  }

  async addNode(id: string, extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> {
    return onFreeLoopbackPorts(2, async ([p, c]) => {
      this.peer.set(id, `127.0.0.1:${p}`);
      this.client.set(id, `127.0.0.1:${c}`);
      try {
        return await this.startNode(id, extra);
      } catch (err) {
        // The retry joins afresh on other ports.
        if (isAddressInUse(err)) rmSync(join(this.dir.path, id), { recursive: true, force: true });
        throw err;
      }
    });
  }

  async stopNode(id: string): Promise<void> {
    await this.nodes.get(id)?.close();
    this.nodes.delete(id);
  }

  clientUrl(): string {
    return `raft://${[...this.client.values()].join(',')}`;
  }

  async leader(): Promise<RaftNode> {
    let leader: RaftNode | null = null;
    await waitFor(() => {
      const leaders = [...this.nodes.values()].filter((n) => n.status().role === 'leader');
      leader = leaders.length === 1 ? leaders[0] : null;
      return (
        leader !== null &&
        [...this.nodes.values()].every((n) => n.status().leader === (leader as RaftNode).id)
      );
    }, 'a leader');
    return leader as unknown as RaftNode;
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.close()));
    this.nodes.clear();
    this.dir.remove();
  }
}
