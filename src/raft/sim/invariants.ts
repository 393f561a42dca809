import type { Entry, Ready, Snapshot } from '../core/index.js';
import { decodeRequest } from '../kv/index.js';
import { decodePayload } from '../runtime/entry-payload.js';
import type { NodeObserver, SimNode } from './sim-node.js';

/** A broken Raft safety property. The message says which, where and how. */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
  readonly code = 'INVARIANT_VIOLATED';
}

interface LoggedEntry {
  term: number;
  type: Entry['type'];
  data: Uint8Array;
}

/**
 * Checks Raft's safety properties (paper Figure 3) on a running simulation:
 * - Election safety: at most one leader per term.
 * - Log matching: an (index, term) pair identifies the entry and the term of the entry
 *   before it, on every node; by induction, the whole prefix.
 * - Leader completeness: a new leader's log holds every entry known committed.
 * - State machine safety: every node applies the same entry at a given index, and an entry
 *   below any node's commit index never changes.
 * - Commit and apply indexes never move back (within one incarnation of a node).
 */
export class InvariantChecker implements Pick<NodeObserver, 'onPersisted' | 'onApply' | 'onRestoreSnapshot'> {
  private leaderOfTerm = new Map<number, string>();
  /** Entries known committed (seen at or below some node's commit index, or applied). */
  private committed = new Map<number, LoggedEntry>();
  /** Every (index, term) ever persisted: the entry and the term before it. */
  private persisted = new Map<string, LoggedEntry & { prevTerm: number }>();
  private lastCommit = new Map<string, number>();
  private checkedLeaders = new Set<string>();
  /** Counters for the report. */
  readonly stats = { leadersElected: 0, entriesCommitted: 0, entriesApplied: 0, snapshotsInstalled: 0 };

  onPersisted(node: SimNode, ready: Ready): void {
    for (const entry of ready.entries) {
      let prevTerm: number;
      try {
        prevTerm = node.storage.term(entry.index - 1);
      } catch {
        continue; // compacted just behind: covered when the entry was first persisted
      }
      const key = `${entry.index}:${entry.term}`;
      const known = this.persisted.get(key);
      if (!known) {
        this.persisted.set(key, { term: entry.term, type: entry.type, data: entry.data, prevTerm });
        continue;
      }
      if (!sameEntry(known, entry) || known.prevTerm !== prevTerm) {
        this.fail(
          `log matching: ${node.id} persisted entry ${key} (prev term ${prevTerm}, ${describe(entry)}) ` +
            `but another node has ${key} with prev term ${known.prevTerm}, ${describe(known)}`,
        );
      }
    }
  }

  onApply(node: SimNode, entry: Entry): void {
    // Called before the node moves its applied index.
    if (entry.index !== node.appliedIndex + 1) {
      this.fail(
        `${node.id} applied entry ${entry.index} right after ${node.appliedIndex}: applies must be contiguous`,
      );
    }
    this.stats.entriesApplied++;
    this.recordCommitted(node.id, entry, 'applied');
  }

  onRestoreSnapshot(node: SimNode, snapshot: Snapshot): void {
    this.stats.snapshotsInstalled++;
    const { index, term } = snapshot.metadata;
    if (index <= node.appliedIndex) {
      this.fail(`${node.id} installed a snapshot at ${index} but had already applied ${node.appliedIndex}`);
    }
    const known = this.committed.get(index);
    if (known && known.term !== term) {
      this.fail(
        `state machine safety: ${node.id} installed a snapshot at ${index} term ${term}, committed term is ${known.term}`,
      );
    }
  }

  /** Checks every node after one simulation event. */
  afterEvent(nodes: Iterable<SimNode>): void {
    for (const node of nodes) {
      const core = node.core;
      if (!core) continue;
      const status = core.status();
      if (status.role === 'leader') {
        const other = this.leaderOfTerm.get(status.term);
        if (other === undefined) {
          this.leaderOfTerm.set(status.term, node.id);
          this.stats.leadersElected++;
        } else if (other !== node.id) {
          this.fail(`election safety: ${other} and ${node.id} are both leader of term ${status.term}`);
        }
        const leaderKey = `${node.id}@${status.term}`;
        if (!this.checkedLeaders.has(leaderKey)) {
          this.checkedLeaders.add(leaderKey);
          this.checkLeaderCompleteness(node, status.term);
        }
      }
      const incarnationKey = `${node.id}#${node.incarnation}`;
      const lastCommit = this.lastCommit.get(incarnationKey) ?? 0;
      if (status.commit < lastCommit) {
        this.fail(`${node.id}'s commit index moved back from ${lastCommit} to ${status.commit}`);
      }
      if (status.commit > lastCommit) {
        const lo = Math.max(lastCommit + 1, core.firstIndex());
        for (const entry of core.logEntries(lo, status.commit + 1))
          this.recordCommitted(node.id, entry, 'committed');
        this.lastCommit.set(incarnationKey, status.commit);
      }
    }
  }

  private checkLeaderCompleteness(node: SimNode, term: number): void {
    const core = node.core;
    if (!core) return;
    const first = core.firstIndex();
    for (const [index, entry] of this.committed) {
      if (index < first - 1) continue; // inside the leader's snapshot
      const t = core.logTerm(index);
      if (t !== entry.term) {
        this.fail(
          `leader completeness: ${node.id} became leader of term ${term} without committed entry ${index} ` +
            `(term ${entry.term}); its log has ${t === null ? 'nothing' : `term ${t}`} there`,
        );
      }
    }
  }

  private recordCommitted(nodeId: string, entry: Entry, how: string): void {
    const known = this.committed.get(entry.index);
    if (!known) {
      this.committed.set(entry.index, { term: entry.term, type: entry.type, data: entry.data });
      this.stats.entriesCommitted++;
      return;
    }
    if (!sameEntry(known, entry)) {
      this.fail(
        `state machine safety: ${nodeId} ${how} ${describe(entry)} at index ${entry.index}, ` +
          `but ${describe(known)} was committed there`,
      );
    }
  }

  private fail(message: string): never {
    throw new InvariantViolation(message);
  }
}

function sameEntry(a: LoggedEntry, b: LoggedEntry): boolean {
  if (a.term !== b.term || a.type !== b.type || a.data.byteLength !== b.data.byteLength) return false;
  for (let i = 0; i < a.data.byteLength; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

function describe(e: LoggedEntry): string {
  const text = e.type === 'normal' ? describeCommand(e.data) : new TextDecoder().decode(e.data);
  return `{term ${e.term}, ${e.type}, ${text.length > 80 ? `${text.slice(0, 80)}…` : JSON.stringify(text)}}`;
}

/** A normal entry's KV request as JSON (values as text), or what else the runtime put there. */
function describeCommand(data: Uint8Array): string {
  const payload = decodePayload(data);
  if (payload.kind === 'noop') return '(no-op)';
  if (payload.kind === 'announce') return `(announce ${payload.id} at ${payload.clientAddr})`;
  if (payload.kind === 'unknown') return new TextDecoder().decode(data);
  try {
    return JSON.stringify(decodeRequest(payload.command), (_, v) =>
      v instanceof Uint8Array ? new TextDecoder().decode(v) : v,
    );
  } catch {
    return new TextDecoder().decode(data);
  }
}
