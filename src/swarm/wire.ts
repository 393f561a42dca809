/**
 * The two records agents and the manager exchange through the Store (there is no other channel
 * between them), and their checks: whatever is read from the store is validated before use, so a
 * damaged or hostile record is ignored, never trusted.
 *
 * - Agent record (`<prefix>/agents/<sender>`): written only by one agent process, read only by the
 *   acting manager. Every write is a heartbeat of every node in it; it also carries the latest
 *   state of each of those nodes' tasks (swarmkit's UpdateTaskStatus, batched).
 * - Assignment (`<prefix>/assignments/<node>`): written only by the manager, watched only by that
 *   node's agent (swarmkit's Assignments stream).
 */
import { isTaskState } from '../network-state/task-state.js';
import type { DesiredState, TaskState } from '../network-state/types.js';

/** What an agent says about one task. */
export interface TaskReport {
  state: TaskState;
  message: string;
  exitCode?: number;
}

export interface NodeReport {
  /** The agent stopped cleanly: mark the node down now rather than after 3 periods. */
  left?: boolean;
  tasks: Map<string, TaskReport>;
}

export interface AgentRecord {
  /** The heartbeat period of the nodes in it (ms). */
  periodMs: number;
  nodes: Map<string, NodeReport>;
}

/** One task as its agent needs it. */
export interface AssignedTask {
  id: string;
  serviceId: string;
  service: string;
  slot: number;
  desiredState: DesiredState;
  command?: string[];
  networks: AssignedNetwork[];
}

export interface AssignedNetwork {
  networkId: string;
  network: string;
  /** `10.9.0.5/24`. */
  addresses: string[];
  /** The service's virtual IP on this network, in vip mode. */
  vip?: string;
}

/** States an agent may report (the others are the manager's). */
const REPORTABLE = new Set<TaskState>([
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'failed',
  'shutdown',
  'rejected',
]);

export const MAX_MESSAGE_CHARS = 512;
/** Heartbeat periods outside this are refused: below, the store would be flooded; above, failures go unseen. */
export const MIN_HEARTBEAT_MS = 20;
export const MAX_HEARTBEAT_MS = 3_600_000;
const ID = /^[a-z0-9]{1,64}$/;

type WireReport = [state: string, message?: string, exitCode?: number];
interface WireAgentRecord {
  v: 1;
  p: number;
  n: Record<string, { l?: 1; t: Record<string, WireReport> }>;
}

export function encodeAgentRecord(record: AgentRecord): string {
  const n: WireAgentRecord['n'] = {};
  for (const [nodeId, node] of record.nodes) {
    const t: Record<string, WireReport> = {};
    for (const [taskId, r] of node.tasks) {
      t[taskId] =
        r.exitCode !== undefined
          ? [r.state, r.message, r.exitCode]
          : r.message
            ? [r.state, r.message]
            : [r.state];
    }
    n[nodeId] = node.left ? { l: 1, t } : { t };
  }
  return JSON.stringify({ v: 1, p: record.periodMs, n } satisfies WireAgentRecord);
}

/** null when the record is not an agent record at all; bad entries inside are dropped. */
export function decodeAgentRecord(value: unknown): AgentRecord | null {
  if (!isObject(value) || value.v !== 1 || !isObject(value.n)) return null;
  const periodMs = value.p;
  if (
    typeof periodMs !== 'number' ||
    !Number.isFinite(periodMs) ||
    periodMs < MIN_HEARTBEAT_MS ||
    periodMs > MAX_HEARTBEAT_MS
  )
    return null;
  const nodes = new Map<string, NodeReport>();
  for (const [nodeId, node] of Object.entries(value.n)) {
    if (!ID.test(nodeId) || !isObject(node) || !isObject(node.t)) continue;
    const tasks = new Map<string, TaskReport>();
    for (const [taskId, raw] of Object.entries(node.t)) {
      if (!ID.test(taskId) || !Array.isArray(raw)) continue;
      const [state, message, exitCode] = raw as unknown[];
      if (!isTaskState(state) || !REPORTABLE.has(state)) continue;
      tasks.set(taskId, {
        state,
        message: typeof message === 'string' ? message.slice(0, MAX_MESSAGE_CHARS) : '',
        ...(Number.isInteger(exitCode) ? { exitCode: exitCode as number } : {}),
      });
    }
    nodes.set(nodeId, { ...(node.l === 1 ? { left: true } : {}), tasks });
  }
  return { periodMs, nodes };
}

export function encodeAssignment(tasks: AssignedTask[]): string {
  return joinAssignment(tasks.map(encodeAssignedTask));
}

/** One task of an assignment record, encoded (the manager keeps these per task record). */
export function encodeAssignedTask(task: AssignedTask): string {
  return JSON.stringify(task);
}

/** The assignment record of tasks already encoded: the same text as `encodeAssignment` of them. */
export function joinAssignment(encodedTasks: readonly string[]): string {
  return `{"v":1,"tasks":[${encodedTasks.join(',')}]}`;
}

/** The tasks of an assignment record; null when it is not one. Bad entries are dropped. */
export function decodeAssignment(value: unknown): AssignedTask[] | null {
  if (!isObject(value) || value.v !== 1 || !Array.isArray(value.tasks)) return null;
  const out: AssignedTask[] = [];
  for (const t of value.tasks as unknown[]) {
    if (!isObject(t)) continue;
    const { id, serviceId, service, slot, desiredState, command, networks } = t;
    if (
      typeof id !== 'string' ||
      !ID.test(id) ||
      typeof serviceId !== 'string' ||
      typeof service !== 'string'
    )
      continue;
    if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 1) continue;
    if (desiredState !== 'ready' && desiredState !== 'running' && desiredState !== 'shutdown') continue;
    if (command !== undefined && !(Array.isArray(command) && command.every((a) => typeof a === 'string')))
      continue;
    if (!Array.isArray(networks)) continue;
    const nets: AssignedNetwork[] = [];
    for (const n of networks as unknown[]) {
      if (!isObject(n) || typeof n.networkId !== 'string' || typeof n.network !== 'string') continue;
      if (!Array.isArray(n.addresses) || !n.addresses.every((a) => typeof a === 'string')) continue;
      nets.push({
        networkId: n.networkId,
        network: n.network,
        addresses: n.addresses as string[],
        ...(typeof n.vip === 'string' ? { vip: n.vip } : {}),
      });
    }
    out.push({
      id,
      serviceId,
      service,
      slot,
      desiredState,
      ...(command ? { command: command as string[] } : {}),
      networks: nets,
    });
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
