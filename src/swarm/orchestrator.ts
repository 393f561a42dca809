/**
 * swarmkit's replicated orchestrator and restart supervisor (manager/orchestrator/replicated,
 * .../restart/restart.go), pure: given one slot's record, its service and the nodes, what the slot
 * should become. The manager commits the result with one compare-and-swap of the slot record.
 *
 * - A task that failed, completed or was rejected, or whose node went down, was removed or is
 *   drained, is replaced in the same slot by a new task (new id, so a new address); the old one is
 *   told to shut down and kept in the slot's history.
 * - The replacement waits in desired state `ready` until the restart delay has passed (not for a
 *   drained node: swarmkit skips the delay there) and until the old task has stopped — unless the
 *   old task's node is down. So no slot ever has two tasks running on two ready nodes at once.
 * - A failed or completed task counts as a restart of its slot; after `restartMaxAttempts` of them
 *   (0: no limit) the slot is left as it is.
 * - Slots above the replica count, and every slot of a removed service, are shut down, then
 *   deleted once nothing of theirs can still be running on a ready node.
 * - A replaced task whose node never came back is `orphaned` after `orphanAfterMs` (swarmkit: 24 h);
 *   at once when its node was removed. A retired task that has stopped gives its addresses back.
 */
import type { RetiredTask, ServiceRecord, TaskRecord } from '../network-state/records.js';
import { newTask } from '../network-state/services.js';
import { canAdvance } from '../network-state/task-state.js';
import { isTerminal, type Node, type Task, type TaskState } from '../network-state/types.js';
import type { TaskReport } from './wire.js';

/** swarmkit's TaskHistoryRetentionLimit: tasks kept per slot, the current one included. */
export const TASK_HISTORY_LIMIT = 5;
/** swarmkit orphans the tasks of a node down this long (ms). */
export const DEFAULT_ORPHAN_AFTER_MS = 24 * 60 * 60 * 1000;

export interface SlotContext {
  /** The slot's service; undefined when it is gone. */
  service: ServiceRecord | undefined;
  nodes: ReadonlyMap<string, Node>;
  nowMs: number;
  orphanAfterMs: number;
}

export interface SlotPlan {
  /** The record to write; null to delete the slot; undefined when nothing changes. */
  next: TaskRecord | null | undefined;
  /** Tasks whose addresses go back to the pools once `next` is committed. */
  release: Task[];
  /** When this slot wants to be looked at again (a restart delay ending), if it does. */
  wakeAtMs?: number;
}

/** Moves tasks forward as their agent reported (only forward, only from the node they are on). */
export function applyReports(
  record: TaskRecord,
  reportOf: (taskId: string) => { nodeId: string; report: TaskReport } | undefined,
  nowMs: number,
): TaskRecord | undefined {
  let changed = false;
  const update = <T extends Task>(t: T): T => {
    const got = reportOf(t.id);
    if (!got || got.nodeId !== t.nodeId) return t;
    const { report } = got;
    if (report.state === t.state || !canAdvance(t.state, report.state)) return t;
    changed = true;
    return {
      ...t,
      state: report.state,
      message: report.message,
      ...(report.exitCode !== undefined ? { exitCode: report.exitCode } : {}),
      updatedAt: new Date(nowMs).toISOString(),
    };
  };
  const current = update(record);
  const retired = record.retired?.map(update);
  if (!changed) return undefined;
  return retired ? { ...current, retired } : current;
}

export function planSlot(record: TaskRecord, ctx: SlotContext): SlotPlan {
  const { service, nodes, nowMs } = ctx;
  const iso = new Date(nowMs).toISOString();
  let changed = false;
  const move = <T extends Task>(t: T, state: TaskState, message: string): T => {
    changed = true;
    return { ...t, state, message, updatedAt: iso };
  };

  // Tasks whose node is gone for good.
  const settle = <T extends Task>(t: T): T => {
    if (isTerminal(t.state)) return t;
    if (t.nodeId === undefined) {
      return t.desiredState === 'shutdown' ? move(t, 'shutdown', 'shut down before it was scheduled') : t;
    }
    const node = nodes.get(t.nodeId);
    if (!node) return move(t, 'orphaned', 'node removed');
    if (
      node.state === 'down' &&
      t.desiredState === 'shutdown' &&
      nowMs - Date.parse(node.stateSince) >= ctx.orphanAfterMs
    )
      return move(t, 'orphaned', `node down since ${node.stateSince}`);
    return t;
  };
  let current: Task = settle(stripRetired(record));
  let retired: RetiredTask[] = (record.retired ?? []).map(settle);

  const removing = service === undefined || service.status === 'removing' || record.slot > service.replicas;
  if (removing) {
    const shut = <T extends Task>(t: T): T => {
      if (isTerminal(t.state) || t.desiredState === 'shutdown') return t;
      changed = true;
      return { ...t, desiredState: 'shutdown', updatedAt: iso };
    };
    current = shut(current);
    retired = retired.map(shut);
    const all = [current, ...retired];
    if (all.every((t) => !mayRun(t, nodes))) {
      return { next: null, release: all.filter((t) => !(t as RetiredTask).released) };
    }
    return finish();
  }

  // Replacement (restart supervisor).
  if (current.desiredState !== 'shutdown') {
    const node = current.nodeId === undefined ? undefined : nodes.get(current.nodeId);
    let delayed = true;
    let counted = false;
    let replace = false;
    if (isTerminal(current.state)) {
      replace = true;
      counted = current.state === 'failed' || current.state === 'complete' || current.state === 'rejected';
    } else if (node?.state === 'down') {
      replace = true;
    } else if (node?.availability === 'drain') {
      replace = true;
      delayed = false;
    }
    const restarts = (current.restarts ?? 0) + (counted ? 1 : 0);
    const limited = counted && service.restartMaxAttempts > 0 && restarts > service.restartMaxAttempts;
    if (replace && !limited) {
      const old: Task = { ...current, desiredState: 'shutdown', updatedAt: iso };
      const delayMs = delayed ? service.restartDelayMs : 0;
      const next = newTask(service.id, record.slot, {
        desiredState: 'ready',
        message: `replaces ${old.id} (${why(old, node)})`,
        ...(restarts > 0 ? { restarts } : {}),
        ...(delayMs > 0 ? { notBefore: new Date(nowMs + delayMs).toISOString() } : {}),
        createdAt: iso,
        updatedAt: iso,
      });
      retired = [old, ...retired];
      current = next;
      changed = true;
    }
  }

  // Start the replacement once its delay passed and the task it replaces has stopped.
  let wakeAtMs: number | undefined;
  if (current.desiredState === 'ready' && !isTerminal(current.state)) {
    const dueMs = current.notBefore ? Date.parse(current.notBefore) : nowMs;
    const waitStop = retired.some((r) => mayRun(r, nodes));
    if (dueMs > nowMs) wakeAtMs = dueMs;
    else if (!waitStop) {
      const { notBefore: _done, ...rest } = current;
      current = { ...rest, desiredState: 'running', updatedAt: iso };
      changed = true;
    }
  }
  return finish(wakeAtMs);

  function finish(wake?: number): SlotPlan {
    // Stopped retired tasks give their addresses back; the oldest stopped ones beyond the
    // history limit are dropped (never one still stopping, never before its release).
    const release: Task[] = [];
    retired = retired.map((t) => {
      if (!isTerminal(t.state) || t.released) return t;
      changed = true;
      release.push(t);
      return { ...t, released: true };
    });
    while (retired.length > TASK_HISTORY_LIMIT - 1) {
      const oldest = retired.findLastIndex((t) => isTerminal(t.state) && t.released);
      if (oldest < 0) break;
      retired.splice(oldest, 1);
      changed = true;
    }
    if (!changed) return { next: undefined, release: [], ...(wake !== undefined ? { wakeAtMs: wake } : {}) };
    const next: TaskRecord = retired.length > 0 ? { ...current, retired } : current;
    return { next, release, ...(wake !== undefined ? { wakeAtMs: wake } : {}) };
  }
}

/** True while a task may still be running: not stopped, on a node that is not down or gone. */
function mayRun(task: Task, nodes: ReadonlyMap<string, Node>): boolean {
  if (isTerminal(task.state) || task.nodeId === undefined) return false;
  const node = nodes.get(task.nodeId);
  return node !== undefined && node.state !== 'down';
}

function why(old: Task, node: Node | undefined): string {
  if (isTerminal(old.state)) return `task ${old.state}`;
  if (node?.state === 'down') return 'node down';
  return 'node drained';
}

function stripRetired(record: TaskRecord): Task {
  const { retired: _retired, ...task } = record;
  return task;
}
