/**
 * The dispatcher's half that decides (swarmkit manager/dispatcher Assignments), pure: what each
 * node's agent must know — every task placed on it that has not stopped, current or retired,
 * with what running it needs. The manager writes one record per node whose list changed, so an
 * agent watches one key (never the whole task list: matching every task event against every
 * node's watch was up to 16 % of a Swarm3k manager's CPU).
 */
import type { NetworkRecord, ServiceRecord, TaskRecord } from '../network-state/records.js';
import { tasksOfSlot } from '../network-state/records.js';
import { isTerminal, type Task } from '../network-state/types.js';
import { type AssignedTask, encodeAssignment } from './wire.js';

/** nodeId → the encoded assignment record (tasks sorted by id, so equal lists encode equally). */
export function assignmentsByNode(
  records: Iterable<TaskRecord>,
  services: ReadonlyMap<string, ServiceRecord>,
  networks: ReadonlyMap<string, NetworkRecord>,
): Map<string, string> {
  const byNode = new Map<string, AssignedTask[]>();
  for (const record of records) {
    const service = services.get(record.serviceId);
    if (!service) continue;
    for (const task of tasksOfSlot(record)) {
      if (task.nodeId === undefined || isTerminal(task.state)) continue;
      let list = byNode.get(task.nodeId);
      if (!list) byNode.set(task.nodeId, (list = []));
      list.push(assigned(task, service, networks));
    }
  }
  const out = new Map<string, string>();
  for (const [nodeId, list] of byNode) {
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    out.set(nodeId, encodeAssignment(list));
  }
  return out;
}

/** The encoded record of a node with nothing to run. */
export const EMPTY_ASSIGNMENT = encodeAssignment([]);

function assigned(
  task: Task,
  service: ServiceRecord,
  networks: ReadonlyMap<string, NetworkRecord>,
): AssignedTask {
  return {
    id: task.id,
    serviceId: service.id,
    service: service.name,
    slot: task.slot,
    desiredState: task.desiredState,
    ...(service.command ? { command: service.command } : {}),
    networks: task.attachments.map((a) => {
      const vip = service.virtualIps.find((v) => v.networkId === a.networkId)?.addr;
      return {
        networkId: a.networkId,
        network: networks.get(a.networkId)?.name ?? a.networkId,
        addresses: a.addresses,
        ...(vip ? { vip } : {}),
      };
    }),
  };
}
