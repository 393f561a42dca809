import type { KvStateMachine } from '../../src/raft/kv/index.js';
import type { Replica, ReplicaMember, ReplicaStatus } from '../../src/raft/replica.js';

/**
 * A single replica that applies each proposal at once, with no consensus: it isolates the
 * embedded store's own logic (sessions, locks, watches, leases) from the Raft runtime, which
 * has its own tests. It is not a stand-in for the cluster: the raft backend's conformance runs
 * on real nodes.
 */
export class DirectReplica implements Replica {
  readonly id = 'direct';
  #index = 0;
  #listeners = new Set<(s: ReplicaStatus) => void>();
  constructor(private readonly sm: KvStateMachine) {}

  async propose(command: Uint8Array): Promise<unknown> {
    await Promise.resolve();
    return this.sm.apply(command, { index: ++this.#index, term: 1 });
  }
  async readBarrier(): Promise<void> {}
  isLeader(): boolean {
    return true;
  }
  status(): ReplicaStatus {
    return {
      id: this.id,
      role: 'leader',
      term: 1,
      leader: this.id,
      commitIndex: this.#index,
      appliedIndex: this.#index,
    };
  }
  members(): ReplicaMember[] {
    return [{ id: this.id, peerAddr: '', clientAddr: null, voter: true }];
  }
  onRoleChange(listener: (s: ReplicaStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
