/**
 * The seam between the Raft runtime (log storage, transport, node: src/raft/runtime/) and
 * what it replicates (the KV state machine and the Store over it: src/raft/kv/,
 * src/raft-node/). The runtime knows nothing of keys; the state machine nothing of Raft.
 */

import type { NodeId, Role } from './core/index.js';

export interface ApplyContext {
  /** Log index of the entry being applied. */
  index: number;
  term: number;
}

/** A deterministic state machine the runtime feeds with committed commands, in log order. */
export interface ReplicatedStateMachine {
  /**
   * Applies one committed command and returns its result (delivered to the proposer on this
   * node). Must be deterministic: every replica applies the same commands in the same order.
   */
  apply(command: Uint8Array, ctx: ApplyContext): unknown;
  /** An image of the whole state, as of the last applied index. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot image taken at `ctx.index`. */
  restore(image: Uint8Array, ctx: ApplyContext): void;
  /**
   * Optional, for large states: the image as frame bodies (src/raft/snapshot-frames.ts),
   * produced one per `next()` while the machine keeps applying in between (the frames still
   * describe the moment of the call). The runtime pulls them in slices, so a snapshot never
   * blocks the event loop for long. Without it, `snapshot()` is one body.
   */
  snapshotFrames?(): Iterator<Uint8Array>;
  /** Optional counterpart: restores frame bodies one `push` at a time. Without it, `restore(body)`. */
  beginRestore?(ctx: ApplyContext): RestoreSink;
}

/** Receives a snapshot image body by body; the state is replaced at `finish()`. */
export interface RestoreSink {
  push(body: Uint8Array): void;
  finish(): void;
}

export interface ReplicaStatus {
  id: NodeId;
  role: Role;
  term: number;
  leader: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
}

export interface ReplicaMember {
  id: NodeId;
  peerAddr: string;
  clientAddr: string | null;
  voter: boolean;
}

/** What the runtime offers the layer above: propose, read barriers, leadership news. */
export interface Replica {
  readonly id: NodeId;
  /**
   * Proposes a command; resolves with `apply`'s result once it is committed and applied on
   * this node (followers forward to the leader). Rejects with a KVError: `TIMEOUT` when not
   * applied in time (it may still apply later: callers retry with the same client sequence
   * number, which the state machine deduplicates), `NOT_REACHABLE` when no leader is known,
   * `CLOSED` after close.
   */
  propose(command: Uint8Array, opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<unknown>;
  /** Resolves once this node has applied everything committed before the call (ReadIndex). */
  readBarrier(opts?: { signal?: AbortSignal; timeoutMs?: number }): Promise<void>;
  isLeader(): boolean;
  status(): ReplicaStatus;
  members(): ReplicaMember[];
  /** Called after every role or leader change; returns an unsubscribe function. */
  onRoleChange(listener: (status: ReplicaStatus) => void): () => void;
}
