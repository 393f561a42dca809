import {
  applyConfChange,
  cloneConfState,
  confStatesEqual,
  decodeConfChange,
  encodeConfChange,
} from './conf-change.js';
import { type ResolvedRaftConfig, resolveConfig } from './config.js';
import { RaftError } from './errors.js';
import { invariant } from './invariant.js';
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue } from './read-only.js';
import { SnapshotReceiver } from './snapshot-transfer.js';
import type {
  AppendRequest,
  AppendResponse,
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  ProgressStatus,
  ProposalResult,
  RaftConfig,
  RaftStatus,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotChunk,
  SnapshotChunkResponse,
  SnapshotSource,
  SoftState,
  VoteRequest,
  VoteResponse,
} from './types.js';

type Proposal = { type: EntryType; data: Uint8Array };

/** A configuration that took effect when the entry at `index` was appended. */
interface ConfPoint {
  index: number;
  conf: ConfState;
}

/** Message fields the core fills in itself. */
type Outgoing = Message extends infer M
  ? M extends Message
    ? Omit<M, 'from' | 'term'> & { term?: number }
    : never
  : never;

/**
 * One Raft server as a pure state machine. Drive it with `tick()` (the runtime's clock),
 * `step()` (messages from peers) and the request methods; drain its output with
 * `hasReady()` / `ready()` and acknowledge each batch with `advance()`.
 * Not re-entrant and not thread-safe: call it from one place.
 *
 * Membership follows the Raft thesis §4.1: a server uses the newest configuration in its
 * log, committed or not, from the moment the entry is appended (and reverts if the entry is
 * truncated away). Changes go one server at a time, at most one uncommitted at once, and
 * only after the leader committed an entry in its own term (the fix for the single-server
 * change bug described on raft-dev in 2015).
 */
export class RaftCore {
  readonly id: NodeId;
  private readonly cfg: ResolvedRaftConfig;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId | null = null;
  private lead: NodeId | null = null;
  private role: Role = 'follower';

  /** Configuration in force: the newest of `confBase` and `confHistory`. */
  private conf: ConfState;
  /** Configuration as of a snapshot (the storage's or one received from the leader). */
  private confBase: ConfPoint;
  /** Configuration entries in the log after `confBase.index`, oldest first. */
  private confHistory: ConfPoint[] = [];

  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  /** Leader: index of the newest conf change that may be uncommitted. */
  private pendingConfIndex = 0;
  private readonly readOnly = new ReadOnlyQueue();
  /** Leader: reads that arrived before the leader committed an entry in its term. */
  private readsAwaitingTermCommit: { requestId: string; from: NodeId }[] = [];
  private readonly snapshotReceiver = new SnapshotReceiver();

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private prevConf: ConfState;
  /** Readys handed out and not yet advanced, oldest first (the runtime may write several at once). */
  private outstanding: Ready[] = [];

  constructor(config: RaftConfig) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    const storage = this.cfg.storage;
    const { hardState, confState } = storage.initialState();
    const snapshotIndex = storage.snapshot().metadata.index;
    const applied = Math.max(this.cfg.applied ?? snapshotIndex, snapshotIndex);
    this.log = new RaftLog(storage, hardState.commit, applied);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.confBase = { index: snapshotIndex, conf: cloneConfState(confState) };
    this.conf = this.confBase.conf;
    this.replayConfEntries(Math.max(snapshotIndex + 1, storage.firstIndex()), storage.lastIndex());
    this.prevHardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.prevSoftState = { lead: null, role: 'follower' };
    this.prevConf = cloneConfState(this.conf);
    this.becomeFollower(this.term, null);
  }

  // =====================================================================================
  // Inputs
  // =====================================================================================

  /** Advances logical time by one tick (election timeouts, heartbeats, CheckQuorum). */
  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Feeds one message from a peer. Messages for another node are rejected (INVALID_ARGUMENT). */
  step(m: Message): void {
    if (m.to !== this.id)
      throw new RaftError('INVALID_ARGUMENT', `message for ${m.to} stepped into ${this.id}`);
    // Forwarded client requests are not part of the term protocol: only a leader acts on them.
    if (m.type === 'prop' || m.type === 'readIndex' || m.type === 'transferLeader') {
      if (this.role === 'leader') this.handleForwardedRequest(m);
      return;
    }
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Leader lease (thesis §4.2.3): while we hear from a live leader, a candidate is
        // either partitioned or removed; ignore it so it cannot depose the leader.
        const leaseApplies = m.type === 'preVote' || this.cfg.checkQuorum;
        const inLease = this.lead !== null && this.electionElapsed < this.cfg.electionTick;
        if (leaseApplies && inLease && !m.transfer) return;
      }
      if (m.type === 'preVote') {
        // A PreVote never changes our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // Granted for the term we are about to campaign in; the tally happens below.
      } else if (m.type === 'vote') {
        // Figure 2: only a leader's message or a granted vote resets the election timer. A
        // candidate that merely raises our term (and may not even get our vote, its log being
        // behind) must not push back our own timeout, or ineligible candidates would keep
        // every eligible server from ever timing out.
        const elapsed = this.electionElapsed;
        const timeout = this.randomizedElectionTimeout;
        this.becomeFollower(m.term, null);
        this.electionElapsed = elapsed;
        this.randomizedElectionTimeout = timeout;
      } else {
        const fromLeader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
        this.becomeFollower(m.term, fromLeader ? m.from : null);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // A leader of an older term is talking to us. Either the message is stale, or our
        // term rose while we were cut off and, since voters ignore us under the lease,
        // we could never rejoin: answering at our term makes that leader step down.
        this.send({ type: 'appResp', to: m.from, index: 0, reject: false, rejectHint: 0, rejectTerm: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  /**
   * Proposes application data. On the leader: appends it and returns its index and term
   * (it is committed once it appears in `committedEntries` with that index and term).
   * On a follower: forwards it to the leader and returns null (track completion in the
   * state machine). Throws PROPOSAL_DROPPED without a known leader, during a leadership
   * transfer, or when forwarding is disabled.
   */
  propose(data: Uint8Array): ProposalResult | null {
    return this.proposeEntry({ type: 'normal', data });
  }

  /**
   * Proposes a membership change (one server at a time). The leader rejects it
   * (CONF_CHANGE_REJECTED) while another change is uncommitted, before it committed an
   * entry in its term, when it is a no-op, or when it promotes a learner that has not
   * caught up (`match < commit`). Followers forward it like `propose`; the leader drops an
   * invalid forwarded change silently.
   */
  proposeConfChange(change: ConfChange): ProposalResult | null {
    return this.proposeEntry({ type: 'confChange', data: encodeConfChange(change) });
  }

  /**
   * Starts a linearizable read. When leadership is confirmed, a `ReadState` with this
   * `requestId` appears in a later Ready: serve the read once applied >= its index.
   * Followers forward to the leader; a lost request yields nothing, so callers time out
   * and retry. Throws PROPOSAL_DROPPED without a known leader.
   */
  readIndex(requestId: string): void {
    if (this.role === 'leader') {
      this.handleReadIndex(requestId, this.id);
    } else if (this.lead !== null) {
      this.send({ type: 'readIndex', to: this.lead, requestId });
    } else {
      throw new RaftError('PROPOSAL_DROPPED', `read ${requestId}: no leader known`);
    }
  }

  /** Asks the leader to hand leadership to voter `to` (TimeoutNow). Followers forward it. */
  transferLeadership(to: NodeId): void {
    if (this.role === 'leader') this.handleTransferLeader(to);
    else if (this.lead !== null) this.send({ type: 'transferLeader', to: this.lead, transferee: to });
  }

  /** Starts an election now (tests and bootstrap). No-op on leaders and non-voters. */
  campaign(): void {
    this.hup(false);
  }

  /** Tells the leader a message to `to` was not delivered: it falls back to probing. */
  reportUnreachable(to: NodeId): void {
    const pr = this.role === 'leader' ? this.prs.get(to) : undefined;
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  // =====================================================================================
  // Output
  // =====================================================================================

  /**
   * Whether `ready()` has anything new. A runtime may take the next Ready before advancing the
   * previous ones (pipelined writes); it holds only what no outstanding Ready carries.
   */
  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.snapshotToWrite() !== null ||
      this.log.hasEntriesToWrite() ||
      this.log.hasNextCommittedEntries() ||
      !softStatesEqual(this.softState(), this.prevSoftState) ||
      !hardStatesEqual(this.hardState(), this.prevHardState) ||
      !confStatesEqual(this.conf, this.prevConf)
    );
  }

  /**
   * The next batch of work. Handle it as `Ready` documents, then call `advance(ready)`.
   * Several Readys may be outstanding; they must be finished (persisted, sent, applied) and
   * advanced in the order they were taken.
   */
  ready(): Ready {
    const soft = this.softState();
    const hard = this.hardState();
    const hardChanged = !hardStatesEqual(hard, this.prevHardState);
    const entries = this.log.entriesToWrite();
    const snapshot = this.log.snapshotToWrite();
    const committedEntries = this.log.nextCommittedEntries(this.cfg.maxCommittedSizePerReady);
    const rd: Ready = {
      softState: softStatesEqual(soft, this.prevSoftState) ? null : soft,
      hardState: hardChanged ? hard : null,
      confState: confStatesEqual(this.conf, this.prevConf) ? null : cloneConfState(this.conf),
      snapshot,
      entries,
      committedEntries,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== null ||
        hard.term !== this.prevHardState.term ||
        hard.vote !== this.prevHardState.vote,
    };
    this.msgs = [];
    this.readStates = [];
    this.prevSoftState = soft;
    this.prevHardState = hard;
    this.prevConf = cloneConfState(this.conf);
    const last = committedEntries[committedEntries.length - 1];
    this.log.acceptReady(last === undefined ? 0 : last.index);
    this.outstanding.push(rd);
    return rd;
  }

  /** Acknowledges that `ready` (the oldest outstanding one) was persisted, sent and applied. */
  advance(ready: Ready): void {
    if (ready !== this.outstanding[0]) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        this.outstanding.includes(ready)
          ? 'advance() out of order: advance the oldest outstanding Ready first'
          : 'advance() of a Ready not outstanding',
      );
    }
    this.outstanding.shift();
    if (ready.snapshot) {
      this.log.stableSnapshotTo(ready.snapshot.metadata.index);
      this.log.appliedTo(ready.snapshot.metadata.index);
    }
    if (ready.entries.length > 0) {
      const last = ready.entries[ready.entries.length - 1];
      this.log.stableTo(last.index, last.term);
      const self = this.role === 'leader' ? this.prs.get(this.id) : undefined;
      if (self?.maybeUpdate(this.log.lastStableIndex()) && this.maybeCommit() && this.role === 'leader') {
        this.broadcastAppend();
      }
    }
    if (ready.committedEntries.length > 0) {
      this.log.appliedTo(ready.committedEntries[ready.committedEntries.length - 1].index);
    }
    this.pruneConfHistory();
  }

  // =====================================================================================
  // Inspection
  // =====================================================================================

  status(): RaftStatus {
    let progress: Record<NodeId, ProgressStatus> | null = null;
    if (this.role === 'leader') {
      progress = {};
      for (const [id, pr] of this.prs) progress[id] = pr.toStatus();
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      lead: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      confState: cloneConfState(this.conf),
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  /**
   * The configuration in force at log index `index` (for snapshots the runtime takes).
   * Throws COMPACTED for an index older than the newest snapshot the core knows about.
   */
  confStateAt(index: number): ConfState {
    if (index < this.confBase.index) throw new RaftError('COMPACTED', `configuration at ${index}: compacted`);
    let conf = this.confBase.conf;
    for (const point of this.confHistory) {
      if (point.index > index) break;
      conf = point.conf;
    }
    return cloneConfState(conf);
  }

  /** Term of the entry at `index` in this node's log (persisted or not), or null if unknown. */
  logTerm(index: number): number | null {
    return this.log.term(index);
  }

  /** Entries `[lo, hi)` of this node's log (persisted or not). Throws COMPACTED below the first index. */
  logEntries(lo: number, hi: number): Entry[] {
    return this.log.entries(lo, Math.min(hi, this.log.lastIndex() + 1));
  }

  /** First index still in the log (earlier entries are in a snapshot). */
  firstIndex(): number {
    return this.log.firstIndex();
  }

  // =====================================================================================
  // Roles
  // =====================================================================================

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'leader cannot become pre-candidate');
    // PreVote changes neither the term nor the vote: a failed PreVote leaves no trace.
    this.role = 'preCandidate';
    this.lead = null;
    this.votes = new Map([[this.id, true]]);
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.votes = new Map([[this.id, true]]);
  }

  private becomeLeader(): void {
    invariant(this.role === 'candidate', `${this.role} cannot become leader`);
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    const self = this.prs.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Any conf change in our log may be uncommitted: allow none until we commit in our term.
    this.pendingConfIndex = this.log.lastIndex();
    // The no-op entry commits everything before it (§5.4.2: only current-term entries
    // are committed by counting replicas).
    this.appendEntries([{ type: 'normal', data: new Uint8Array() }]);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.cfg.electionTick + this.cfg.rng.nextInt(this.cfg.electionJitterTick + 1);
    this.leadTransferee = null;
    this.votes = new Map();
    this.pendingConfIndex = 0;
    this.readOnly.clear();
    this.readsAwaitingTermCommit = [];
    this.snapshotReceiver.reset();
    this.prs = new Map();
    this.syncProgress();
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && this.log.pendingSnapshot() === null;
  }

  // =====================================================================================
  // Time
  // =====================================================================================

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const pr of this.prs.values()) pr.snapshotSender?.tick();
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        const active = hasQuorum(
          this.conf.voters,
          (id) => id === this.id || this.prs.get(id)?.recentActive === true,
        );
        if (!active) {
          this.becomeFollower(this.term, null);
          return;
        }
        for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== null) this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.readOnly.latestContext());
    }
  }

  // =====================================================================================
  // Elections
  // =====================================================================================

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.cfg.preVote && !transfer) this.runElection('preVote', false);
    else this.runElection('vote', transfer);
  }

  private runElection(kind: 'preVote' | 'vote', transfer: boolean): void {
    let voteTerm: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    if (voteResult(this.conf.voters, this.votes) === 'won') {
      // A single-voter cluster wins at once.
      this.onElectionWon(transfer);
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const voter of this.conf.voters) {
      if (voter === this.id) continue;
      this.send({ type: kind, to: voter, term: voteTerm, lastLogIndex, lastLogTerm, transfer });
    }
  }

  private onElectionWon(transfer: boolean): void {
    if (this.role === 'preCandidate') {
      this.runElection('vote', transfer);
    } else {
      this.becomeLeader();
      this.broadcastAppend();
    }
  }

  private handleVoteRequest(m: VoteRequest): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.lead === null) ||
      (m.type === 'preVote' && m.term > this.term);
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // Answer at the candidate's term so a pre-candidate recognizes the grant.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, reject: true });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        break;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshotChunk(m);
        break;
      case 'voteResp':
      case 'preVoteResp':
        this.handleVoteResponse(m);
        break;
      default:
        break;
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    const expected = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    if (m.type !== expected) return;
    if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
    const result = voteResult(this.conf.voters, this.votes);
    if (result === 'won') this.onElectionWon(false);
    else if (result === 'lost') this.becomeFollower(this.term, null);
  }

  // =====================================================================================
  // Follower
  // =====================================================================================

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshotChunk(m);
        break;
      case 'timeoutNow':
        this.hup(true);
        break;
      case 'readIndexResp':
        if (m.index >= 0) this.readStates.push({ requestId: m.requestId, index: m.index });
        break;
      default:
        break;
    }
  }

  private handleAppend(m: AppendRequest): void {
    if (m.prevIndex < this.log.committed) {
      this.send({
        type: 'appResp',
        to: m.from,
        index: this.log.committed,
        reject: false,
        rejectHint: 0,
        rejectTerm: 0,
      });
      return;
    }
    const lastNew = this.log.maybeAppend(
      m.prevIndex,
      m.prevTerm,
      m.commit,
      m.entries,
      (appended, truncatedFrom) => this.onEntriesAppended(appended, truncatedFrom),
    );
    if (lastNew !== null) {
      this.send({ type: 'appResp', to: m.from, index: lastNew, reject: false, rejectHint: 0, rejectTerm: 0 });
      return;
    }
    // Fast back-off: tell the leader where our log might still match, so it skips a whole
    // term of conflicting entries in one round trip instead of one index at a time.
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({
      type: 'appResp',
      to: m.from,
      index: m.prevIndex,
      reject: true,
      rejectHint: hint.index,
      rejectTerm: hint.term,
    });
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    this.log.commitTo(m.commit);
    this.send({ type: 'heartbeatResp', to: m.from, readContext: m.readContext });
  }

  private handleSnapshotChunk(m: SnapshotChunk): void {
    if (m.metadata.index <= this.log.committed) {
      // We already have everything this snapshot holds (perhaps our answer got lost).
      this.snapshotReceiver.reset();
      this.sendAppendAck(m.from, this.log.committed);
      return;
    }
    const result = this.snapshotReceiver.accept(m);
    if ('held' in result) {
      this.send({
        type: 'snapResp',
        to: m.from,
        index: m.metadata.index,
        nextOffset: result.held,
        chunkOffset: m.offset,
      });
      return;
    }
    this.restore(result.snapshot);
    this.sendAppendAck(m.from, this.log.committed);
  }

  private sendAppendAck(to: NodeId, index: number): void {
    this.send({ type: 'appResp', to, index, reject: false, rejectHint: 0, rejectTerm: 0 });
  }

  /** Installs a snapshot from the leader, unless our log already contains its last entry. */
  private restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    if (index <= this.log.committed) return;
    if (this.log.matchTerm(index, term)) {
      // Our log has the snapshot's last entry, so it matches up to there: just commit.
      this.log.commitTo(index);
      return;
    }
    const committedBefore = this.log.committed;
    this.log.restore(snapshot);
    // The runtime may still be applying entries before the snapshot and ask confStateAt()
    // for them: keep the committed history, and record the snapshot's configuration.
    const conf = cloneConfState(snapshot.metadata.confState);
    this.confHistory = this.confHistory.filter((p) => p.index <= committedBefore);
    this.confHistory.push({ index, conf });
    this.setConf(conf);
  }

  // =====================================================================================
  // Leader
  // =====================================================================================

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m);
        break;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m);
        break;
      case 'snapResp':
        this.handleSnapshotResponse(m);
        break;
      case 'app':
      case 'heartbeat':
      case 'snap':
        invariant(
          false,
          `leader ${this.id} of term ${this.term} got ${m.type} from ${m.from} in the same term`,
        );
        break;
      default:
        break;
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      const hint =
        m.rejectTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.rejectTerm).index : m.rejectHint;
      if (pr.maybeDecreaseTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.freeInflightUpTo(m.index);
    }
    if (this.maybeCommit()) {
      // Tell everyone the new commit index (and stop if we just committed our removal).
      if (this.role !== 'leader') return;
      this.broadcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Fill the in-flight window.
    while (this.maybeSendAppend(m.from, false)) {}
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from });
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflightFull()) pr.freeOneInflight();
    if (pr.state === 'snapshot') {
      // The follower is alive but the transfer stalled: something in flight was lost.
      if (pr.snapshotSender?.maybeRetransmit(this.snapshotIdleLimit())) this.sendSnapshotChunks(m.from, pr);
    } else if (pr.match < this.log.lastIndex()) {
      // An append may have been lost: an (empty) append detects the gap.
      this.sendAppend(m.from);
    }
    if (m.readContext > 0) {
      this.readOnly.ack(m.from, m.readContext);
      this.releaseConfirmedReads();
    }
  }

  private handleSnapshotResponse(m: SnapshotChunkResponse): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    const sender = pr.snapshotSender;
    if (pr.state !== 'snapshot' || !sender || m.index !== sender.index) return;
    if (sender.onAck(m.nextOffset, m.chunkOffset)) this.sendSnapshotChunks(m.from, pr);
  }

  /** Leader ticks without snapshot progress before resending: a few round trips' worth. */
  private snapshotIdleLimit(): number {
    return Math.max(2 * this.cfg.heartbeatTick, Math.ceil(this.cfg.electionTick / 2));
  }

  private handleForwardedRequest(
    m: Extract<Message, { type: 'prop' | 'readIndex' | 'transferLeader' }>,
  ): void {
    switch (m.type) {
      case 'prop':
        for (const proposal of m.entries) {
          try {
            this.proposeEntry(proposal);
          } catch (err) {
            // The follower's caller retries on its own timeout; a dropped forward is silent.
            if (!(err instanceof RaftError)) throw err;
          }
        }
        break;
      case 'readIndex':
        this.handleReadIndex(m.requestId, m.from);
        break;
      case 'transferLeader':
        this.handleTransferLeader(m.transferee);
        break;
    }
  }

  private proposeEntry(proposal: Proposal): ProposalResult | null {
    if (this.role !== 'leader') {
      if (this.lead === null) throw new RaftError('PROPOSAL_DROPPED', 'no leader known');
      if (this.cfg.disableProposalForwarding) {
        throw new RaftError(
          'PROPOSAL_DROPPED',
          `not the leader (leader is ${this.lead}); forwarding disabled`,
        );
      }
      this.send({ type: 'prop', to: this.lead, entries: [proposal] });
      return null;
    }
    if (this.leadTransferee !== null) {
      throw new RaftError('PROPOSAL_DROPPED', `leadership is being transferred to ${this.leadTransferee}`);
    }
    if (!this.prs.has(this.id)) {
      throw new RaftError('PROPOSAL_DROPPED', 'this leader is being removed from the cluster');
    }
    if (proposal.type === 'confChange') this.checkConfChange(decodeConfChange(proposal.data));
    const [entry] = this.appendEntries([proposal]);
    if (proposal.type === 'confChange') this.pendingConfIndex = entry.index;
    this.broadcastAppend();
    return { index: entry.index, term: entry.term };
  }

  private checkConfChange(change: ConfChange): void {
    const reject = (why: string): never => {
      throw new RaftError('CONF_CHANGE_REJECTED', `${change.type} ${change.nodeId}: ${why}`);
    };
    if (this.pendingConfIndex > this.log.committed)
      reject('another configuration change is not committed yet');
    if (this.log.term(this.log.committed) !== this.term)
      reject('the leader has not committed an entry in its term');
    applyConfChange(this.conf, change); // throws on no-ops and on removing the last voter
    if (change.type === 'addVoter' && this.conf.learners.includes(change.nodeId)) {
      const pr = this.prs.get(change.nodeId);
      if (!pr || pr.match < this.log.committed) {
        reject(`learner has not caught up (match ${pr?.match ?? 0} < commit ${this.log.committed})`);
      }
    }
  }

  private appendEntries(proposals: Proposal[]): Entry[] {
    let index = this.log.lastIndex();
    const entries = proposals.map((p) => ({ term: this.term, index: ++index, type: p.type, data: p.data }));
    this.log.append(entries);
    this.onEntriesAppended(entries, null);
    // The leader's own copy counts toward commit only once it is persisted (see advance), so
    // the runtime may send these entries to followers while it writes them (thesis §10.2.1).
    return entries;
  }

  /**
   * Advances the commit index to what a majority of voters hold, but only through an
   * entry of the current term (§5.4.2). Returns whether it moved.
   */
  private maybeCommit(): boolean {
    const index = committedIndex(this.conf.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (!this.log.maybeCommit(index, this.term)) return false;
    this.onLeaderCommit();
    return true;
  }

  private onLeaderCommit(): void {
    if (this.readsAwaitingTermCommit.length > 0 && this.committedInCurrentTerm()) {
      const waiting = this.readsAwaitingTermCommit;
      this.readsAwaitingTermCommit = [];
      for (const r of waiting) this.handleReadIndex(r.requestId, r.from);
    }
    // A leader that removed itself manages the cluster until the removal commits (thesis
    // §4.2.2), then steps down and hands over to the most up-to-date voter.
    if (!this.conf.voters.includes(this.id) && this.latestConfIndex() <= this.log.committed) {
      let successor: NodeId | null = null;
      for (const voter of this.conf.voters) {
        const pr = this.prs.get(voter);
        if (pr && pr.match === this.log.lastIndex()) successor = successor ?? voter;
      }
      // Let the followers learn the commit index before we go quiet.
      this.broadcastAppend();
      if (successor !== null) this.send({ type: 'timeoutNow', to: successor });
      this.becomeFollower(this.term, null);
    }
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private handleReadIndex(requestId: string, from: NodeId): void {
    if (!this.committedInCurrentTerm()) {
      // Our commit index may be stale until an entry of our term commits (thesis §6.4 step 1).
      this.readsAwaitingTermCommit.push({ requestId, from });
      return;
    }
    if (hasQuorum(this.conf.voters, (id) => id === this.id)) {
      this.releaseRead(requestId, from, this.log.committed);
      return;
    }
    const context = this.readOnly.add(requestId, from, this.log.committed, this.id);
    this.broadcastHeartbeat(context);
  }

  private releaseConfirmedReads(): void {
    const confirmed = this.readOnly.takeConfirmed((acks) =>
      hasQuorum(this.conf.voters, (id) => acks.has(id)),
    );
    for (const r of confirmed) this.releaseRead(r.requestId, r.from, r.index);
  }

  private releaseRead(requestId: string, from: NodeId, index: number): void {
    if (from === this.id) this.readStates.push({ requestId, index });
    else this.send({ type: 'readIndexResp', to: from, requestId, index });
  }

  private handleTransferLeader(to: NodeId): void {
    if (to === this.id || !this.conf.voters.includes(to)) return;
    if (this.leadTransferee === to) return;
    // The transfer must finish within one election timeout (checked in tickLeader).
    this.electionElapsed = 0;
    this.leadTransferee = to;
    const pr = this.prs.get(to);
    if (pr && pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to });
    else this.sendAppend(to);
  }

  private broadcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private broadcastHeartbeat(readContext: number): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: 'heartbeat', to: id, commit, readContext });
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends the next append (or a snapshot) to `to` if its progress allows. Returns whether it sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (this.role !== 'leader' || !pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let entries: Entry[] | null = null;
    if (prevTerm !== null) {
      try {
        entries = this.log.entries(pr.next, this.log.lastIndex() + 1, this.cfg.maxSizePerMsg);
      } catch (err) {
        if (!(err instanceof RaftError && err.code === 'COMPACTED')) throw err;
      }
    }
    if (prevTerm === null || entries === null) return this.maybeSendSnapshot(to, pr);
    if (!sendIfEmpty && entries.length === 0) return false;
    this.send({ type: 'app', to, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentAppend(prevIndex + entries.length, entries.length);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // Do not start a (large) transfer to a follower we have not heard from.
    if (!pr.recentActive) return false;
    let snapshot: SnapshotSource;
    try {
      snapshot = this.log.snapshot();
    } catch (err) {
      if (err instanceof RaftError && err.code === 'SNAPSHOT_TEMPORARILY_UNAVAILABLE') return false;
      throw err;
    }
    invariant(snapshot.metadata.index > 0, 'needed a snapshot but storage has none');
    pr.becomeSnapshot(snapshot);
    this.sendSnapshotChunks(to, pr);
    return true;
  }

  /** Sends the chunks the transfer's window allows (maxInflightSnapshotBytes, maxInflightMsgs chunks). */
  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const sender = pr.snapshotSender;
    invariant(sender !== null, 'no snapshot to send');
    const { metadata } = sender.snapshot;
    const { snapshotChunkSize, maxInflightSnapshotBytes, maxInflightMsgs } = this.cfg;
    const window = Math.max(
      1,
      Math.min(maxInflightMsgs, Math.floor(maxInflightSnapshotBytes / snapshotChunkSize)),
    );
    for (const { offset, chunk } of sender.nextChunks(snapshotChunkSize, window)) {
      this.send({ type: 'snap', to, metadata, offset, chunk, totalSize: sender.totalSize });
    }
  }

  // =====================================================================================
  // Membership
  // =====================================================================================

  /** Tracks configuration entries that just entered the log (and those truncated away). */
  private onEntriesAppended(entries: Entry[], truncatedFrom: number | null): void {
    if (truncatedFrom !== null && this.confHistory.some((p) => p.index >= truncatedFrom)) {
      this.confHistory = this.confHistory.filter((p) => p.index < truncatedFrom);
      this.setConf(this.confHistory.at(-1)?.conf ?? this.confBase.conf);
    }
    for (const entry of entries) if (entry.type === 'confChange') this.recordConfEntry(entry);
  }

  private recordConfEntry(entry: Entry): void {
    let next: ConfState;
    try {
      next = applyConfChange(this.conf, decodeConfChange(entry.data));
    } catch (err) {
      // An invalid change in the log is a no-op, identically on every server.
      if (!(err instanceof RaftError)) throw err;
      next = this.conf;
    }
    this.confHistory.push({ index: entry.index, conf: next });
    this.setConf(next);
  }

  private replayConfEntries(lo: number, hi: number): void {
    const storage = this.cfg.storage;
    for (let index = lo; index <= hi; ) {
      const batch = storage.entries(index, hi + 1, this.cfg.maxSizePerMsg);
      for (const entry of batch) if (entry.type === 'confChange') this.recordConfEntry(entry);
      index += batch.length;
    }
  }

  private latestConfIndex(): number {
    return this.confHistory.at(-1)?.index ?? this.confBase.index;
  }

  private setConf(conf: ConfState): void {
    this.conf = conf;
    this.syncProgress();
    if (this.leadTransferee !== null && !conf.voters.includes(this.leadTransferee))
      this.leadTransferee = null;
  }

  /** Keeps one Progress per member: new members start probing after our last entry. */
  private syncProgress(): void {
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of this.prs.keys()) if (!members.has(id)) this.prs.delete(id);
    const lastIndex = this.log.lastIndex();
    for (const id of members) {
      const isLearner = this.conf.learners.includes(id);
      let pr = this.prs.get(id);
      if (!pr) {
        pr = new Progress(lastIndex + 1, isLearner, this.cfg.maxInflightMsgs);
        if (id === this.id) {
          // Only what is on stable storage counts toward commit (see advance).
          pr.match = this.log.lastStableIndex();
          pr.recentActive = true;
        }
        this.prs.set(id, pr);
      }
      pr.isLearner = isLearner;
    }
  }

  /**
   * Forgets configuration history the runtime can no longer ask about: compacted into
   * storage's snapshot, and already applied.
   */
  private pruneConfHistory(): void {
    const compacted = Math.min(this.log.firstIndex() - 1, this.log.applied);
    if (this.confHistory.length === 0 || this.confHistory[0].index > compacted) return;
    let conf = this.confBase.conf;
    while (this.confHistory.length > 0 && this.confHistory[0].index <= compacted) {
      conf = (this.confHistory.shift() as ConfPoint).conf;
    }
    this.confBase = { index: compacted, conf };
  }

  // =====================================================================================
  // Helpers
  // =====================================================================================

  private send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  private softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
}

function softStatesEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.role === b.role;
}

function hardStatesEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
