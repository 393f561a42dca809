import type { KvEvent } from '../../raft/kv/index.js';
import type { KVPair } from '../../store/types.js';

/**
 * The `raft://` client protocol: length-prefixed msgpack frames (src/raft/runtime/frame-codec.ts)
 * over one TCP (or TLS) connection, each request tagged with an id so many run at once;
 * watches stream replies under their id. The node checks every request before it acts on it
 * (src/raft-node/request-check.ts).
 */

/** Bytes a request frame may have beyond its value (key, session, framing). */
const FRAME_OVERHEAD_BYTES = 64 * 1024;

/** The largest request frame a node accepts: its value limit plus overhead. */
export function clientFrameLimit(maxValueBytes: number): number {
  return maxValueBytes + FRAME_OVERHEAD_BYTES;
}
export type ClientRequest =
  | { id: number; op: 'hello' }
  /** An encoded KvRequest (client id + sequence number + command) to propose. */
  | { id: number; op: 'submit'; request: Uint8Array; timeoutMs: number }
  | { id: number; op: 'get'; key: string; consistent: boolean }
  | { id: number; op: 'list'; dir: string }
  /** Watch a key (`key`) or a directory (`dir`); `after`: resume after this revision. */
  | { id: number; op: 'watch'; key?: string; dir?: string; after?: number }
  | { id: number; op: 'cancel'; target: number }
  /** Resolves once `owner` holds the lock of `key`; fails when its lease is gone. */
  | { id: number; op: 'lockWait'; key: string; owner: string; lease: number }
  | { id: number; op: 'lockHolder'; key: string }
  | { id: number; op: 'status' }
  | { id: number; op: 'members' }
  | { id: number; op: 'addMember'; member: { id: string; peerAddr: string; clientAddr: string | null } }
  | { id: number; op: 'removeMember'; nodeId: string };

export type ClientReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: string; message: string }
  /** Watch stream: the state at `revision` (a pair or null for a key, the list for a dir). */
  | { id: number; kind: 'state'; revision: number; state: KVPair | null | KVPair[] }
  /** Watch stream: changes after the last revision sent, in order. */
  | { id: number; kind: 'events'; events: KvEvent[] };

export interface HelloResult {
  nodeId: string;
  /** The client address of the leader as this node knows it, to go to it directly. */
  leaderClientAddr: string | null;
}
