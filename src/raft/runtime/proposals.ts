import { NotReachableError, TimeoutError } from '../../store/errors.js';
import { RaftError } from '../core/index.js';
import { Deadline } from './deadline.js';
import type { DriverClock } from './driver-io.js';
import { encodeProposal } from './entry-payload.js';

/** How a proposal ended: the state machine's answer on this node, or why it did not get one. */
export type ProposalDone = (err: unknown, result?: unknown) => void;

/** One proposal in flight: its entry's data, and its caller. */
class Pending extends Deadline<unknown> {
  /** Handed to a leader (so on timeout it may still apply). */
  proposed = false;

  constructor(
    private readonly owner: Proposals,
    readonly seq: number,
    readonly data: Uint8Array,
    now: number,
    private readonly timeoutMs: number,
    private readonly done: ProposalDone,
  ) {
    super(now, timeoutMs);
  }

  protected timeoutError(): unknown {
    return this.proposed
      ? new TimeoutError(`proposal not applied within ${this.timeoutMs} ms (it may still apply)`)
      : new NotReachableError(
          `no raft leader known to node ${this.owner.nodeId} within ${this.timeoutMs} ms`,
        );
  }

  protected answer(err: unknown, value?: unknown): void {
    this.owner.forget(this);
    this.done(err, value);
  }
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

  get nodeId(): string {
    return this.opts.nodeId;
  }

  propose(command: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal }, done: ProposalDone): void {
    const seq = ++this.seq;
    const data = encodeProposal(this.opts.token, seq, command);
    const item = new Pending(this, seq, data, this.opts.clock.now(), opts.timeoutMs, done);
    item.watch(opts.signal);
    if (item.settled) return;
    this.pending.set(seq, item);
    this.submit(item);
  }

  /** This node applied its proposal `seq`: the state machine answered `result`, or threw `err`. */
  applied(seq: number, err: unknown, result: unknown): void {
    const item = this.pending.get(seq);
    if (!item) return;
    if (err === null) item.resolve(result);
    else item.reject(err);
  }

  /** Times out the proposals whose deadline `now` reached (the driver calls it every tick). */
  expire(now: number): void {
    for (const item of this.pending.values()) item.expire(now);
  }

  /** Hands waiting proposals to the core (call when a leader is known). */
  retryAwaitingLeader(): void {
    if (this.awaitingLeader.length === 0) return;
    const waiting = this.awaitingLeader;
    this.awaitingLeader = [];
    for (const item of waiting) if (!item.settled) this.submit(item);
  }

  rejectAll(err: unknown): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.awaitingLeader = [];
    for (const item of all) item.reject(err);
  }

  /** Forgets every proposal without answering it (a simulated crash). */
  dropAll(): void {
    for (const item of this.pending.values()) item.cancel();
    this.pending.clear();
    this.awaitingLeader = [];
  }

  private submit(item: Pending): void {
    try {
      this.opts.propose(item.data);
      item.proposed = true;
    } catch (err) {
      if (err instanceof RaftError && err.code === 'PROPOSAL_DROPPED') this.awaitingLeader.push(item);
      else item.reject(err);
    }
  }

  /** The caller of `item` is being answered: it is no longer in flight. */
  forget(item: Pending): void {
    this.pending.delete(item.seq);
    if (!item.proposed) this.awaitingLeader = this.awaitingLeader.filter((p) => p !== item);
  }
}
