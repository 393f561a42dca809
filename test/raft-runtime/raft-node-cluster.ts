import { join } from 'node:path';
import { type RaftNode, type RaftNodeOptions, startRaftNode } from '../../src/raft-node/index.js';
import { freePorts, tempDir, waitFor } from './support.js';

/** Real kvkit Raft nodes (KV state machine, client ports) in this process. */
export class NodeCluster {
  readonly nodes = new Map<string, RaftNode>();
  readonly logs: string[] = [];
  readonly dir = tempDir('kvkit-raftnode-');
  readonly peer = new Map<string, string>();
  readonly client = new Map<string, string>();
  initialCluster = '';

  static async start(n: number, extra: Partial<RaftNodeOptions> = {}): Promise<NodeCluster> {
    const c = new NodeCluster();
    const ports = await freePorts(2 * n);
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
    const [p, c] = await freePorts(2);
    this.peer.set(id, `127.0.0.1:${p}`);
    this.client.set(id, `127.0.0.1:${c}`);
    return this.startNode(id, extra);
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
