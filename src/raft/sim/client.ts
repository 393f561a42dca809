import type { KVPair } from '../../store/types.js';
import type { Op } from '../../testing/index.js';
import type { KvCommand, KvResult } from '../kv/index.js';
import type { SimCluster } from './cluster.js';
import { InvariantViolation } from './invariants.js';
import type { ServerCall, ServerReply } from './sim-node.js';

/**
 * A client session: its id and the last sequence number used. Workers of one session share it,
 * like the concurrent callers of one kvkit store, so its requests interleave in the log.
 */
export interface ClientSession {
  id: string;
  seq: number;
}

export interface ClientOptions {
  cluster: SimCluster;
  session: ClientSession;
  /** Keys of the checked registers (get / put / cas, recorded for the linearizability checker). */
  keys: string[];
  /** Keys written with a TTL and read back; empty: no lease traffic. */
  leaseKeys: string[];
  /** A TTL put lives uniform [min, max] virtual ms unless rewritten. */
  leaseTtlMs: [min: number, max: number];
  /** Reads go through ReadIndex (true) or through the log like writes (false). */
  readViaIndex: boolean;
  /** Without an answer after this long, the client tries another server. */
  attemptTimeoutMs: number;
  /** Without an answer after this long, the client gives up on the operation. */
  opDeadlineMs: number;
  /** Pause between operations, uniform in [0, thinkMs]. */
  thinkMs: number;
  /** The shared history the linearizability checker reads. */
  history: Op[];
  /** A fresh process number (a client that gave up on a write continues as a new process). */
  newProcess: () => number;
}

/** One operation in flight: the checked op (null for lease traffic) and its current step. */
interface InFlight {
  op: Op | null;
  /** Virtual time the operation was invoked; its deadline counts from here. */
  call: number;
  step: ServerCall;
  attempt: number;
  onAnswer: (reply: Exclude<ServerReply, { kind: 'refused' }>) => void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A worker of a client of kvkit's replicated key space: one operation at a time, each request
 * to a random server, retried elsewhere with the same (client id, sequence number) on timeout
 * or refusal, so only the state machine's client sessions keep a write from taking effect twice.
 *
 * The checked workload is get / put / cas on registers with unique values. The state machine's
 * cas compares revisions, so a value cas [expected, next] is a linearizable read of the pair
 * then, if the value is `expected`, a revision cas on the revision read (docs/raft-core.md
 * argues why that is a value cas).
 */
export class SimClient {
  private process: number;
  private opNumber = 0;
  private inFlight: InFlight | null = null;
  private stopped = false;
  /** Last value this client saw per key: cas expects it, so some cas succeed. */
  private seen = new Map<string, string | null>();
  /** Operations answered / abandoned; lease writes and reads issued. */
  readonly stats = { ok: 0, abandoned: 0, leasePuts: 0, leaseReads: 0 };

  constructor(private readonly opts: ClientOptions) {
    this.process = opts.newProcess();
  }

  start(): void {
    this.scheduleNext();
  }

  /** Issues no new operation; the one in flight may still complete. */
  stop(): void {
    this.stopped = true;
  }

  private get queue() {
    return this.opts.cluster.queue;
  }

  private scheduleNext(): void {
    this.queue.schedule(this.opts.cluster.rng.next() * this.opts.thinkMs, () => this.issue());
  }

  private issue(): void {
    if (this.stopped) return;
    const { rng } = this.opts.cluster;
    // Unique across the run: a value names the one operation that wrote it.
    const value = `${this.process}.${++this.opNumber}`;
    if (this.opts.leaseKeys.length > 0 && rng.next() < 0.2) {
      this.issueLeaseOp(this.opts.leaseKeys[rng.nextInt(this.opts.leaseKeys.length)], value);
      return;
    }
    const key = this.opts.keys[rng.nextInt(this.opts.keys.length)];
    const roll = rng.next();
    if (roll < 0.4) {
      const op = this.record(key, 'get', null, null);
      this.read(op, op.call, key, (pair) => this.complete(op, textOf(pair)));
    } else if (roll < 0.75) {
      const op = this.record(key, 'put', value, null);
      this.write(op, op.call, { op: 'put', key, value: encoder.encode(value) }, () =>
        this.complete(op, null),
      );
    } else {
      const expected = rng.next() < 0.2 ? null : (this.seen.get(key) ?? null);
      const op = this.record(key, 'cas', [expected, value], false);
      this.valueCas(op, key, expected, value);
    }
  }

  /** TTL writes (the leader's lease clock revokes them) and reads of them, not in the history. */
  private issueLeaseOp(key: string, value: string): void {
    const { rng } = this.opts.cluster;
    const call = this.queue.now;
    const roll = rng.next();
    if (roll < 0.3) {
      this.stats.leaseReads++;
      this.read(null, call, key, (pair) => {
        this.opts.cluster.kvChecker.onRead(key, textOf(pair), call);
        this.finish();
      });
      return;
    }
    this.stats.leasePuts++;
    const [min, max] = this.opts.leaseTtlMs;
    // Mostly TTL writes; some plain writes, which detach the key from its lease.
    const ttlMs = roll < 0.9 ? Math.round(min + rng.next() * (max - min)) : undefined;
    this.write(null, call, { op: 'put', key, value: encoder.encode(value), ttlMs }, () => this.finish());
  }

  /**
   * Value cas over the state machine's revision cas: read the pair; a different value is a
   * false cas (linearized at the read); else swap only if the key still has the revision read
   * (prev 0: only if still absent), linearized when the command applies.
   */
  private valueCas(op: Op, key: string, expected: string | null, next: string): void {
    this.read(op, op.call, key, (pair) => {
      if (textOf(pair) !== expected) {
        this.complete(op, false);
        return;
      }
      const cmd: KvCommand = { op: 'cas', key, value: encoder.encode(next), prev: pair?.lastIndex ?? 0 };
      this.write(op, op.call, cmd, (result) => {
        if (!result.ok && result.code === 'ALREADY_APPLIED') {
          // A retry whose first application's answer the session no longer holds: the cas took
          // effect once, with an outcome this client will never learn.
          this.giveUpOnWrite();
          return;
        }
        if (!result.ok && result.code !== 'KEY_MODIFIED' && result.code !== 'KEY_EXISTS') {
          throw new InvariantViolation(`cas on ${key} answered ${JSON.stringify(result)}`);
        }
        this.complete(op, result.ok);
      });
    });
  }

  private record(key: string, f: Op['f'], input: Op['input'], output: Op['output']): Op {
    const op: Op = { process: this.process, key, f, input, output, call: this.queue.now, ret: null };
    this.opts.history.push(op);
    return op;
  }

  private read(op: Op | null, call: number, key: string, then: (pair: KVPair | null) => void): void {
    const step: ServerCall = {
      kind: 'read',
      key,
      viaIndex: this.opts.readViaIndex,
      client: this.opts.session.id,
      seq: ++this.opts.session.seq,
    };
    this.begin(op, call, step, (reply) => {
      if (reply.kind !== 'read') throw new InvariantViolation(`a read of ${key} was answered ${reply.kind}`);
      then(reply.pair);
    });
  }

  private write(op: Op | null, call: number, cmd: KvCommand, then: (result: KvResult) => void): void {
    const request = { client: this.opts.session.id, seq: ++this.opts.session.seq, cmd };
    this.begin(op, call, { kind: 'command', request }, (reply) => {
      if (reply.kind !== 'command') throw new InvariantViolation(`a ${cmd.op} was answered ${reply.kind}`);
      then(reply.result);
    });
  }

  /** Sends one step (a read or a command) of the operation invoked at `call`. */
  private begin(op: Op | null, call: number, step: ServerCall, onAnswer: InFlight['onAnswer']): void {
    const flight: InFlight = { op, call, step, attempt: 0, onAnswer };
    this.inFlight = flight;
    this.sendAttempt(flight);
  }

  private sendAttempt(flight: InFlight): void {
    const attempt = ++flight.attempt;
    const { cluster } = this.opts;
    const servers = [...cluster.nodes.values()].filter((n) => !n.retired);
    const server = servers[cluster.rng.nextInt(servers.length)];
    cluster.network.sendClient(() =>
      server.handleClient(flight.step, (reply) =>
        cluster.network.sendClient(() => this.onReply(flight, attempt, reply)),
      ),
    );
    this.queue.schedule(this.opts.attemptTimeoutMs, () => {
      if (this.inFlight === flight && flight.attempt === attempt) this.retryOrGiveUp(flight);
    });
  }

  private onReply(flight: InFlight, attempt: number, reply: ServerReply): void {
    if (this.inFlight !== flight) return;
    if (reply.kind === 'refused') {
      // Refused (no leader known, transfer...): try elsewhere soon, once per attempt.
      if (flight.attempt === attempt) {
        this.queue.schedule(5, () => {
          if (this.inFlight === flight && flight.attempt === attempt) this.retryOrGiveUp(flight);
        });
      }
      return;
    }
    // Any attempt's answer is an answer to this step (same client id and sequence number).
    this.inFlight = null;
    flight.onAnswer(reply);
  }

  private retryOrGiveUp(flight: InFlight): void {
    if (this.queue.now - flight.call < this.opts.opDeadlineMs) {
      this.sendAttempt(flight);
      return;
    }
    this.inFlight = null;
    const { op } = flight;
    if (op && flight.step.kind === 'read') {
      // Nothing was written (a get, or a cas still reading): it constrains nothing.
      const i = this.opts.history.lastIndexOf(op);
      if (i >= 0) this.opts.history.splice(i, 1);
      this.stats.abandoned++;
      this.scheduleNext();
    } else if (op) {
      this.giveUpOnWrite();
    } else {
      this.stats.abandoned++;
      this.scheduleNext();
    }
  }

  /**
   * The current write may take effect at any time, or did with an unknown outcome: its op
   * keeps `ret: null`. Continue as a new process, like Jepsen: a process has at most one
   * operation outstanding. The session stays: its sequence numbers keep counting, as a real
   * store's do.
   */
  private giveUpOnWrite(): void {
    this.stats.abandoned++;
    this.process = this.opts.newProcess();
    this.scheduleNext();
  }

  private complete(op: Op, output: Op['output']): void {
    op.output = output;
    op.ret = this.queue.now;
    if (op.f === 'get') this.seen.set(op.key, output as string | null);
    else if (op.f === 'put') this.seen.set(op.key, op.input as string);
    else if (output === true) this.seen.set(op.key, (op.input as [string | null, string])[1]);
    this.finish();
  }

  private finish(): void {
    this.stats.ok++;
    this.scheduleNext();
  }
}

function textOf(pair: KVPair | null): string | null {
  return pair ? decoder.decode(pair.value) : null;
}
