/**
 * The acting manager's heartbeat timers, in memory only (swarmkit's dispatcher keeps them the
 * same way: a heartbeat is never a consensus write; only the ready/down changes it causes are).
 * Pure: time is an argument, so the rules are tested without waiting.
 *
 * - A node heard from gets `missedPeriods` (3) of its period before it is down.
 * - A node this manager has not heard from yet — every node right after a manager change — gets
 *   `failoverPeriods` (6), so a failover never marks healthy nodes down (added to swarmkit after
 *   Swarm2k, where a leader change did).
 */
export class HeartbeatMonitor {
  readonly #missedPeriods: number;
  readonly #failoverPeriods: number;
  /** nodeId → when it is down unless heard from (ms). */
  readonly #deadlines = new Map<string, number>();

  constructor(opts: { missedPeriods?: number; failoverPeriods?: number } = {}) {
    this.#missedPeriods = opts.missedPeriods ?? 3;
    this.#failoverPeriods = opts.failoverPeriods ?? 6;
  }

  /** Starts the failover grace for a node not yet heard from (no-op when it has a deadline). */
  expect(nodeId: string, periodMs: number, nowMs: number): void {
    if (!this.#deadlines.has(nodeId)) this.#deadlines.set(nodeId, nowMs + this.#failoverPeriods * periodMs);
  }

  /** The node was heard from. */
  beat(nodeId: string, periodMs: number, nowMs: number): void {
    this.#deadlines.set(nodeId, nowMs + this.#missedPeriods * periodMs);
  }

  /** True while the node has a running timer (it was heard from or is expected). */
  watching(nodeId: string): boolean {
    return this.#deadlines.has(nodeId);
  }

  /** Makes the node's time run out at `atMs` (a down decision to take again). */
  expireAt(nodeId: string, atMs: number): void {
    this.#deadlines.set(nodeId, atMs);
  }

  /** Watched nodes not in `known` (removed nodes, to forget). */
  unknown(known: ReadonlySet<string>): string[] {
    return [...this.#deadlines.keys()].filter((id) => !known.has(id));
  }

  forget(nodeId: string): void {
    this.#deadlines.delete(nodeId);
  }

  /** Nodes whose time ran out, each once: they are forgotten until they beat again. */
  expired(nowMs: number): string[] {
    const out: string[] = [];
    for (const [nodeId, deadline] of this.#deadlines) {
      if (deadline <= nowMs) {
        out.push(nodeId);
        this.#deadlines.delete(nodeId);
      }
    }
    return out;
  }

  /** The earliest deadline, or null when no timer runs. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const deadline of this.#deadlines.values()) if (next === null || deadline < next) next = deadline;
    return next;
  }
}
