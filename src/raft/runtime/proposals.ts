import { NotReachableError, TimeoutError } from '../../store/errors.js';
import { RaftError } from '../core/index.js';
import { Deadline } from './deadline.js';
import type { DriverClock } from './driver-io.js';
import { encodeProposal } from './entry-payload.js';

/** How a proposal ended: the state machine's answer on this node, or why it did not get one. */
export type ProposalDone = (err: unknown, result?: unknown) => void;

interface Pending {
  seq: number;
  data: Uint8Array;
  /** Handed to a leader (so on timeout it may still apply). */
  proposed: boolean;
  deadline: Deadline<unknown>;
}

/**
 * This node's proposals in flight: each wraps its command with the node's token and a
 * sequence number (entry-payload.ts), so the entry that carries it resolves its waiter when
 * this node applies it. Proposals made while no leader is known wait and are handed over
 * once one is (retried each tick), until their deadline.
 */
export class Proposals {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private awaitingLeader: Pending[] = [];

  constructor(
    private readonly opts: {
      nodeId: string;
      token: Uint8Array;
      clock: DriverClock;
      /** Hands data to the core; throws RaftError PROPOSAL_DROPPED when no leader takes it. */
      propose: (data: Uint8Array) => void;
    },
  ) {}

  get size(): number {
    return this.pending.size;
  }

  propose(command: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal }, done: ProposalDone): void {
    const seq = ++this.seq;
    const { timeoutMs } = opts;
    const item: Pending = {
      seq,
      data: encodeProposal(this.opts.token, seq, command),
      proposed: false,
      deadline: new Deadline<unknown>(
        (result) => {
          this.forget(item);
          done(null, result);
        },
        (err) => {
          this.forget(item);
          done(err);
        },
        {
          now: this.opts.clock.now(),
          timeoutMs,
          signal: opts.signal,
          onTimeout: () =>
            item.proposed
              ? new TimeoutError(`proposal not applied within ${timeoutMs} ms (it may still apply)`)
              : new NotReachableError(
                  `no raft leader known to node ${this.opts.nodeId} within ${timeoutMs} ms`,
                ),
        },
      ),
    };
    if (item.deadline.settled) return;
    this.pending.set(seq, item);
    this.submit(item);
  }

  /** This node applied its proposal `seq`: the state machine answered `result`, or threw `err`. */
  applied(seq: number, err: unknown, result: unknown): void {
    const item = this.pending.get(seq);
    if (!item) return;
    if (err === null) item.deadline.resolve(result);
    else item.deadline.reject(err);
  }

  /** Times out the proposals whose deadline `now` reached (the driver calls it every tick). */
  expire(now: number): void {
    for (const item of this.pending.values()) item.deadline.expire(now);
  }

  /** Hands waiting proposals to the core (call when a leader is known). */
  retryAwaitingLeader(): void {
    if (this.awaitingLeader.length === 0) return;
    const waiting = this.awaitingLeader;
    this.awaitingLeader = [];
    for (const item of waiting) if (!item.deadline.settled) this.submit(item);
  }

  rejectAll(err: unknown): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.awaitingLeader = [];
    for (const item of all) item.deadline.reject(err);
  }

  /** Forgets every proposal without answering it (a simulated crash). */
  dropAll(): void {
    for (const item of this.pending.values()) item.deadline.cancel();
    this.pending.clear();
    this.awaitingLeader = [];
  }

  private submit(item: Pending): void {
    try {
      this.opts.propose(item.data);
      item.proposed = true;
    } catch (err) {
      if (err instanceof RaftError && err.code === 'PROPOSAL_DROPPED') this.awaitingLeader.push(item);
      else item.deadline.reject(err);
    }
  }

  private forget(item: Pending): void {
    this.pending.delete(item.seq);
    if (!item.proposed) this.awaitingLeader = this.awaitingLeader.filter((p) => p !== item);
  }
}
