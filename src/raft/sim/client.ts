import type { Op } from '../../testing/index.js';
import type { SimCluster } from './cluster.js';
import type { KvCommand, KvOperation, KvResult } from './kv-state-machine.js';
import type { ClientReply } from './sim-node.js';

export interface ClientOptions {
  cluster: SimCluster;
  keys: string[];
  /** Gets go through ReadIndex (true) or through the log like writes (false). */
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

interface InFlight {
  op: Op;
  cmd: KvCommand;
  attempt: number;
}

/**
 * A client of the replicated KV store: one operation at a time, on a random server;
 * retries the same (client id, sequence number) elsewhere on timeout or refusal, so the
 * state machine's session table must make the write take effect at most once.
 */
export class SimClient {
  private process: number;
  private seq = 0;
  private inFlight: InFlight | null = null;
  private stopped = false;
  /** Last value this client saw per key: cas expects it, so some cas succeed. */
  private seen = new Map<string, string | null>();
  /** Operations answered / abandoned. */
  readonly stats = { ok: 0, abandoned: 0 };

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
    const rng = this.opts.cluster.rng;
    const key = this.opts.keys[rng.nextInt(this.opts.keys.length)];
    const seq = ++this.seq;
    const value = `${this.process}.${seq}`;
    const roll = rng.next();
    let op: KvOperation;
    let recorded: Op;
    const now = this.queue.now;
    if (roll < 0.4) {
      op = { f: 'get', key };
      recorded = { process: this.process, key, f: 'get', input: null, output: null, call: now, ret: null };
    } else if (roll < 0.75) {
      op = { f: 'put', key, value };
      recorded = { process: this.process, key, f: 'put', input: value, output: null, call: now, ret: null };
    } else {
      const expected = rng.next() < 0.2 ? null : (this.seen.get(key) ?? null);
      op = { f: 'cas', key, expected, next: value };
      recorded = {
        process: this.process,
        key,
        f: 'cas',
        input: [expected, value],
        output: false,
        call: now,
        ret: null,
      };
    }
    this.opts.history.push(recorded);
    this.inFlight = { op: recorded, cmd: { clientId: this.process, seq, op }, attempt: 0 };
    this.sendAttempt();
  }

  private sendAttempt(): void {
    const flight = this.inFlight;
    if (!flight) return;
    const attempt = ++flight.attempt;
    const { cluster } = this.opts;
    const servers = [...cluster.nodes.values()].filter((n) => !n.retired);
    const server = servers[cluster.rng.nextInt(servers.length)];
    const readViaIndex = this.opts.readViaIndex;
    cluster.network.sendClient(() =>
      server.handleClient(flight.cmd, readViaIndex, (reply) =>
        cluster.network.sendClient(() => this.onReply(flight, attempt, reply)),
      ),
    );
    this.queue.schedule(this.opts.attemptTimeoutMs, () => {
      if (this.inFlight === flight && flight.attempt === attempt) this.retryOrGiveUp(flight);
    });
  }

  private onReply(flight: InFlight, attempt: number, reply: ClientReply): void {
    if (this.inFlight !== flight) return;
    if (!reply.ok) {
      // Refused (no leader known, transfer...): try elsewhere soon, once per attempt.
      if (flight.attempt === attempt) this.queue.schedule(5, () => this.retryIfCurrent(flight, attempt));
      return;
    }
    // Any attempt's answer is an answer to this operation (same client id and sequence).
    this.complete(flight, reply.result);
  }

  private retryIfCurrent(flight: InFlight, attempt: number): void {
    if (this.inFlight === flight && flight.attempt === attempt) this.retryOrGiveUp(flight);
  }

  private retryOrGiveUp(flight: InFlight): void {
    if (this.queue.now - flight.op.call < this.opts.opDeadlineMs) {
      this.sendAttempt();
      return;
    }
    this.inFlight = null;
    this.stats.abandoned++;
    if (flight.op.f === 'get') {
      // An unanswered read constrains nothing: leave it out of the history.
      const i = this.opts.history.lastIndexOf(flight.op);
      if (i >= 0) this.opts.history.splice(i, 1);
    } else {
      // The write may still take effect at any later time (ret stays null). Continue as a
      // new process, like Jepsen: a process has at most one operation outstanding.
      this.process = this.opts.newProcess();
      this.seq = 0;
    }
    this.scheduleNext();
  }

  private complete(flight: InFlight, result: KvResult): void {
    this.inFlight = null;
    this.stats.ok++;
    const op = flight.op;
    op.ret = this.queue.now;
    const cmdOp = flight.cmd.op;
    switch (cmdOp.f) {
      case 'get':
        op.output = result as string | null;
        this.seen.set(cmdOp.key, result as string | null);
        break;
      case 'put':
        op.output = null;
        this.seen.set(cmdOp.key, cmdOp.value);
        break;
      case 'cas':
        op.output = result as boolean;
        if (result === true) this.seen.set(cmdOp.key, cmdOp.next);
        break;
    }
    this.scheduleNext();
  }
}
