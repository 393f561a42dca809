import { RaftError } from './errors.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  ProposalResult,
  RaftConfig,
  RaftStatus,
  Ready,
} from './types.js';

/**
 * One Raft server as a pure state machine. Drive it with `tick()` (the runtime's clock),
 * `step()` (messages from peers) and the request methods; drain its output with
 * `hasReady()` / `ready()` and acknowledge each batch with `advance()`.
 * Not re-entrant and not thread-safe: call it from one place.
 */
export class RaftCore {
  constructor(config: RaftConfig) {
    void config;
    throw new RaftError('INVALID_ARGUMENT', 'RaftCore: not implemented yet');
  }

  /** Advances logical time by one tick (election timeouts, heartbeats, CheckQuorum). */
  tick(): void {}

  /** Feeds one message from a peer. Messages for another node are rejected (INVALID_ARGUMENT). */
  step(message: Message): void {
    void message;
  }

  /**
   * Proposes application data. On the leader: appends it and returns its index and term
   * (it is committed once it appears in `committedEntries` with that index and term).
   * On a follower: forwards it to the leader and returns null (track completion in the
   * state machine). Throws PROPOSAL_DROPPED without a known leader, during a leadership
   * transfer, or when forwarding is disabled.
   */
  propose(data: Uint8Array): ProposalResult | null {
    void data;
    return null;
  }

  /**
   * Proposes a membership change (one server at a time). The leader rejects it
   * (CONF_CHANGE_REJECTED) while another change is uncommitted, before it committed an
   * entry in its term, when it is a no-op, or when it promotes a learner that has not
   * caught up (`match < commit`). Followers forward it like `propose`.
   */
  proposeConfChange(change: ConfChange): ProposalResult | null {
    void change;
    return null;
  }

  /**
   * Starts a linearizable read. When leadership is confirmed, a `ReadState` with this
   * `requestId` appears in a later Ready: serve the read once applied >= its index.
   * Followers forward to the leader; a lost request yields nothing, so callers time out
   * and retry. Throws PROPOSAL_DROPPED without a known leader.
   */
  readIndex(requestId: string): void {
    void requestId;
  }

  /** Asks the leader to hand leadership to voter `to` (TimeoutNow). Followers forward it. */
  transferLeadership(to: string): void {
    void to;
  }

  /** Starts an election now (tests and bootstrap). No-op on leaders and non-voters. */
  campaign(): void {}

  /** Tells the leader a message to `to` was not delivered: it falls back to probing. */
  reportUnreachable(to: string): void {
    void to;
  }

  /** Whether `ready()` has anything. False while a Ready is outstanding (not advanced). */
  hasReady(): boolean {
    return false;
  }

  /** The next batch of work. Handle it as `Ready` documents, then call `advance(ready)`. */
  ready(): Ready {
    throw new RaftError('INVALID_ARGUMENT', 'not implemented');
  }

  /** Acknowledges that `ready` was persisted, sent and applied. */
  advance(ready: Ready): void {
    void ready;
  }

  status(): RaftStatus {
    throw new RaftError('INVALID_ARGUMENT', 'not implemented');
  }

  /** The configuration in force at log index `index` (for snapshots the runtime takes). */
  confStateAt(index: number): ConfState {
    void index;
    throw new RaftError('INVALID_ARGUMENT', 'not implemented');
  }

  /** Term of the entry at `index` in this node's log (persisted or not), or null if unknown. */
  logTerm(index: number): number | null {
    void index;
    return null;
  }

  /** Entries `[lo, hi)` of this node's log (persisted or not). */
  logEntries(lo: number, hi: number): Entry[] {
    void lo;
    void hi;
    return [];
  }
}
