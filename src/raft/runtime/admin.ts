import type { ReplicaMember, ReplicaStatus } from '../replica.js';

/** A server to add: its id and where to reach it. */
export interface NewMember {
  id: string;
  peerAddr: string;
  clientAddr: string | null;
}

/**
 * Cluster administration a node offers (the client port serves it to `raft://` clients:
 * `kvkit raft status|members|remove`, and `--join`). Any member can take a request: a
 * follower forwards membership changes to the leader and waits until it has applied them.
 */
export interface ClusterAdmin {
  status(): ReplicaStatus;
  members(): ReplicaMember[];
  /** Adds a member as a learner; the leader promotes it to voter once it has caught up. */
  addMember(member: NewMember): Promise<void>;
  /** Removes a member (dead or alive, leader included). */
  removeMember(id: string): Promise<void>;
}
