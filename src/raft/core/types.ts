/**
 * The whole contract of the Raft core on one screen: log entries, messages, persisted
 * state, the storage the runtime implements, the configuration, and the `Ready` batch the
 * core hands back. Everything here is a plain value (numbers, strings, booleans, null,
 * Uint8Array, arrays, plain objects) so the runtime can encode it with msgpackr as is.
 */

/** A server's identity. Stable for the server's lifetime; never reused after removal. */
export type NodeId = string;

// ---------------------------------------------------------------------------------------
// Log
// ---------------------------------------------------------------------------------------

/**
 * `normal`: application data (an empty `data` is the no-op a new leader appends to commit
 * entries of earlier terms). `confChange`: `data` is an encoded {@link ConfChange}
 * (see `encodeConfChange` / `decodeConfChange`).
 */
export type EntryType = 'normal' | 'confChange';

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

// ---------------------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------------------

/** The cluster configuration: who votes, and who only receives the log. Disjoint sets. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/**
 * One server at a time (Raft thesis §4.1): every change adds or removes exactly one voter,
 * so any majority of the old configuration overlaps any majority of the new one.
 * - `addLearner`: a new server that receives the log but does not vote or count for commit.
 * - `addVoter`: promote a learner (the leader refuses unless it has caught up, see
 *   `RaftCore.proposeConfChange`) or add a brand-new voter directly.
 * - `removeNode`: remove a voter or a learner (possibly the leader itself).
 */
export interface ConfChange {
  type: 'addLearner' | 'addVoter' | 'removeNode';
  nodeId: NodeId;
  /** Opaque to the core; the runtime may carry the server's address here. */
  context: string | null;
}

// ---------------------------------------------------------------------------------------
// Persisted state
// ---------------------------------------------------------------------------------------

/** State that must be on stable storage before any message of the same `Ready` is sent. */
export interface HardState {
  term: number;
  /** Candidate voted for in `term`, or null. */
  vote: NodeId | null;
  /** Highest index known committed (persisted so a restart does not re-learn it). */
  commit: number;
}

export interface SnapshotMetadata {
  /** Last log index the snapshot covers. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Configuration as of `index`. */
  confState: ConfState;
}

/**
 * A snapshot image as storage offers it for sending: its size and slices of it. A Uint8Array
 * is one; storage may instead read slices from where the image is kept (a file), so a large
 * image is never loaded whole to be sent in chunks.
 */
export interface SnapshotData {
  readonly byteLength: number;
  subarray(begin: number, end: number): Uint8Array;
}

/** A snapshot to send (storage's, or one received and not yet persisted). */
export interface SnapshotSource {
  metadata: SnapshotMetadata;
  data: SnapshotData;
}

export interface Snapshot extends SnapshotSource {
  metadata: SnapshotMetadata;
  /** The application's state machine image at `metadata.index`. */
  data: Uint8Array;
}

/**
 * Read side of the runtime's stable storage. All methods are synchronous (the LMDB backend
 * reads synchronously). The core never writes to it: the runtime writes what `Ready` tells
 * it to persist, and compacts when it takes snapshots.
 *
 * Indexes: the log holds entries `[firstIndex(), lastIndex()]`; everything before is
 * covered by `snapshot()` (`snapshot().metadata.index >= firstIndex() - 1`; equal when the
 * runtime compacts exactly at its snapshot). An empty log has `lastIndex() === firstIndex() - 1`.
 */
export interface RaftStorage {
  /** Persisted hard state, and the configuration as of the storage's snapshot. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries with index in `[lo, hi)`. With `maxBytes`, returns a prefix whose total
   * {@link entrySize} is at most `maxBytes`, but always at least one entry.
   * Throws `RaftError` code `COMPACTED` if `lo < firstIndex()`, `UNAVAILABLE` if `hi > lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /**
   * Term of the entry at `index`, for `index` in `[firstIndex() - 1, lastIndex()]` (the
   * snapshot's term at `firstIndex() - 1`). Throws `COMPACTED` below, `UNAVAILABLE` above.
   */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The most recent snapshot. Throws `SNAPSHOT_TEMPORARILY_UNAVAILABLE` if being built. */
  snapshot(): SnapshotSource;
}

// ---------------------------------------------------------------------------------------
// Messages (between cores; the runtime only routes them by `to`)
// ---------------------------------------------------------------------------------------

interface Envelope {
  from: NodeId;
  to: NodeId;
  /** Sender's term (for `prop`/`readIndex`/`transferLeader` forwards: informational). */
  term: number;
}

/** RequestVote, or the PreVote probe that precedes it (Raft thesis §9.6). */
export interface VoteRequest extends Envelope {
  type: 'vote' | 'preVote';
  lastLogIndex: number;
  lastLogTerm: number;
  /** Set when the campaign was triggered by leadership transfer: voters skip the leader-lease check. */
  transfer: boolean;
}

export interface VoteResponse extends Envelope {
  type: 'voteResp' | 'preVoteResp';
  reject: boolean;
}

/** AppendEntries. */
export interface AppendRequest extends Envelope {
  type: 'app';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  /** Leader's commit index. */
  commit: number;
}

export interface AppendResponse extends Envelope {
  type: 'appResp';
  /** Accepted: the last index now known to match the leader. Rejected: the rejected `prevIndex`. */
  index: number;
  reject: boolean;
  /**
   * Rejected only: fast back-off hint. The follower's largest index `<= min(prevIndex, lastIndex)`
   * whose term is `<= prevTerm`, and that entry's term. The leader skips straight past the conflict.
   */
  rejectHint: number;
  rejectTerm: number;
}

export interface HeartbeatRequest extends Envelope {
  type: 'heartbeat';
  /** min(leader commit, follower match): a follower may not have the leader's whole log. */
  commit: number;
  /** ReadIndex round this heartbeat confirms (0: none). Echoed in the response. */
  readContext: number;
}

export interface HeartbeatResponse extends Envelope {
  type: 'heartbeatResp';
  readContext: number;
}

/** One chunk of InstallSnapshot. Chunks are sent one at a time, in order. */
export interface SnapshotChunk extends Envelope {
  type: 'snap';
  metadata: SnapshotMetadata;
  /** Byte offset of `chunk` in the snapshot data. */
  offset: number;
  chunk: Uint8Array;
  /** Total byte length of the snapshot data. */
  totalSize: number;
}

/** Acknowledges snapshot chunks: the follower holds bytes `[0, nextOffset)` of snapshot `index`. */
export interface SnapshotChunkResponse extends Envelope {
  type: 'snapResp';
  index: number;
  nextOffset: number;
  /**
   * Offset of the chunk this answers. Lets the leader tell a stale acknowledgement (of an
   * older chunk: ignored) from a follower that fell behind (restart: rewind to `nextOffset`).
   */
  chunkOffset: number;
}

/** Leadership transfer: the target starts an election at once, skipping PreVote. */
export interface TimeoutNow extends Envelope {
  type: 'timeoutNow';
}

/** A follower forwards a client proposal to the leader. */
export interface ProposalForward extends Envelope {
  type: 'prop';
  entries: { type: EntryType; data: Uint8Array }[];
}

/** A follower forwards a ReadIndex request to the leader. */
export interface ReadIndexRequest extends Envelope {
  type: 'readIndex';
  requestId: string;
}

export interface ReadIndexResponse extends Envelope {
  type: 'readIndexResp';
  requestId: string;
  /** Commit index the read must wait for; -1 if the leader refused (then retry). */
  index: number;
}

/** A follower forwards `transferLeadership(transferee)` to the leader. */
export interface TransferLeaderRequest extends Envelope {
  type: 'transferLeader';
  transferee: NodeId;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotChunk
  | SnapshotChunkResponse
  | TimeoutNow
  | ProposalForward
  | ReadIndexRequest
  | ReadIndexResponse
  | TransferLeaderRequest;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state, reported when it changes. */
export interface SoftState {
  /** Leader known in the current term, or null. */
  lead: NodeId | null;
  role: Role;
}

/** A ReadIndex result: the read `requestId` may be served once `applied >= index`. */
export interface ReadState {
  requestId: string;
  index: number;
}

/**
 * One batch of work for the runtime. Handle it in this order, then call `advance(ready)`:
 *  1. If `snapshot`: persist it (storage replaces its log with it).
 *  2. Persist `entries` (first deleting any stored entry with index >= entries[0].index),
 *     then `hardState` if present. fsync when `mustSync`.
 *  3. Only now send `messages`: a vote or an append acknowledgement promises that the
 *     state above is durable (Raft's "respond after persisting" rule). Exception: the
 *     leader's replication messages (`sendableBeforePersist`: app, heartbeat, snap) may leave
 *     before or during the write, because the leader counts its own entries toward commit only
 *     once `advance` confirms them persisted (Raft thesis §10.2.1).
 *  4. If `snapshot`: restore the state machine from it. Then apply `committedEntries` in order.
 *  5. Serve each `readStates` entry once the state machine has applied its `index`.
 * Storage reads by the core (`RaftStorage`) must see steps 1–2 before `advance` returns.
 * Pipelining: the next Ready may be taken (and its write and early messages started) before
 * this one is advanced; each holds only what no earlier one carries. Readys must be finished
 * (steps 3–5, after their own write and every earlier one) and advanced in the order taken.
 */
export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  softState: SoftState | null;
  /** Present when term, vote or commit changed since the last Ready. */
  hardState: HardState | null;
  /** Present when the active configuration changed (on append, truncation or snapshot). */
  confState: ConfState | null;
  /** Snapshot to persist and restore from, or null. */
  snapshot: Snapshot | null;
  /** Entries to append to stable storage. */
  entries: Entry[];
  /** Entries committed and not yet handed out, to apply in order. */
  committedEntries: Entry[];
  /** Messages to send after persisting. Order per destination matters only for efficiency. */
  messages: Message[];
  /** ReadIndex results released in this batch. */
  readStates: ReadState[];
  /** True when `hardState` term/vote or `entries` changed, so the write must be fsynced. */
  mustSync: boolean;
}

// ---------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------

/** How the leader replicates to one follower (etcd's probe/replicate/snapshot states). */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressStatus {
  /** Highest index known replicated on the follower. */
  match: number;
  /** Next index to send. */
  next: number;
  state: ProgressState;
  /** Heard from the follower within the current election timeout (CheckQuorum). */
  recentActive: boolean;
  /** Append messages in flight (bounded by `maxInflightMsgs`). */
  inflight: number;
  isLearner: boolean;
  /** Index of the snapshot being sent in `snapshot` state, else 0. */
  pendingSnapshot: number;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  lead: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  confState: ConfState;
  /** Leader only: target of an ongoing leadership transfer, else null. */
  leadTransferee: NodeId | null;
  /** Leader only: replication progress of every member (including itself), else null. */
  progress: Record<NodeId, ProgressStatus> | null;
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/** Source of randomness. Must be deterministic for a given seed (see `createRng`). */
export interface Rng {
  /** Uniform integer in `[0, maxExclusive)`. */
  nextInt(maxExclusive: number): number;
}

export interface RaftConfig {
  /** This server's id. */
  id: NodeId;
  /** Stable storage (read side). */
  storage: RaftStorage;
  /** Randomness for election timeouts. Default: `createRng(seed derived from id)`. */
  rng?: Rng;
  /**
   * Ticks without hearing from a leader before a follower campaigns. Also the CheckQuorum
   * period and the leader-lease length. Default 10.
   */
  electionTick?: number;
  /**
   * Each election timeout is drawn uniformly from `[electionTick, electionTick + electionJitterTick]`.
   * Default `electionTick - 1` (etcd's `[electionTick, 2 * electionTick)`). 0 disables randomization.
   */
  electionJitterTick?: number;
  /** Ticks between leader heartbeats. Must be < electionTick. Default 1. */
  heartbeatTick?: number;
  /**
   * Max bytes of entries (by `entrySize`) in one append message; at least one entry is
   * always sent. Default 1 MiB.
   */
  maxSizePerMsg?: number;
  /** Max append messages in flight to one follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Max bytes of committed entries handed out in one Ready. Default 16 MiB. */
  maxCommittedSizePerReady?: number;
  /** Bytes of snapshot data per InstallSnapshot chunk. Default 1 MiB. */
  snapshotChunkSize?: number;
  /**
   * Max bytes of snapshot chunks in flight to one follower (at least one chunk, at most
   * `maxInflightMsgs` chunks). Default 8 MiB: storage may read each chunk from disk as it is
   * sent, and a whole window is read at once.
   */
  maxInflightSnapshotBytes?: number;
  /** Run a PreVote round before a real election (thesis §9.6). Default true. */
  preVote?: boolean;
  /**
   * Leader steps down when it has not heard from a quorum within an election timeout; and
   * voters ignore vote requests while they hear from a leader (leader lease). Default true.
   */
  checkQuorum?: boolean;
  /** Index the state machine has applied (survives restarts). Default: snapshot index. */
  applied?: number;
  /** Followers drop proposals instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
}

/** Result of a proposal accepted by the leader itself. */
export interface ProposalResult {
  index: number;
  term: number;
}
