/**
 * The dispatcher's half that decides (swarmkit manager/dispatcher Assignments), pure: what each
 * node's agent must know — every task placed on it that has not stopped, current or retired,
 * with what running it needs. The manager writes one record per node whose list changed, so an
 * agent watches one key (never the whole task list: matching every task event against every
 * node's watch was up to 16 % of a Swarm3k manager's CPU).
 *
 * Cost: the manager asks on every pass, for every slot. Each slot record's tasks are encoded
 * once per record version (records are the same objects until they change: DecodedDir), so a
 * pass over 10,000 slots re-encodes only what changed and joins the rest; building every task's
 * entry anew each pass was the largest part of a 4,700-node pass (issue 18).
 */
import type { NetworkRecord, ServiceRecord, TaskRecord } from '../network-state/records.js';
import { tasksOfSlot } from '../network-state/records.js';
import { isTerminal, type Task } from '../network-state/types.js';
import { type AssignedTask, encodeAssignedTask, encodeAssignment, joinAssignment } from './wire.js';

/** One assigned task of a slot record, encoded. */
interface Part {
  nodeId: string;
  id: string;
  encoded: string;
}

/** A slot record's parts and what they were built from (valid while those are the same objects). */
interface Encoded {
  service: ServiceRecord;
  networks: [id: string, network: NetworkRecord | undefined][];
  parts: Part[];
}

const encodedRecords = new WeakMap<TaskRecord, Encoded>();

/** nodeId → the encoded assignment record (tasks sorted by id, so equal lists encode equally). */
export function assignmentsByNode(
  records: Iterable<TaskRecord>,
  services: ReadonlyMap<string, ServiceRecord>,
  networks: ReadonlyMap<string, NetworkRecord>,
): Map<string, string> {
  const byNode = new Map<string, Part[]>();
  for (const record of records) {
    const service = services.get(record.serviceId);
    if (!service) continue;
    for (const part of partsOf(record, service, networks)) {
      let list = byNode.get(part.nodeId);
      if (!list) byNode.set(part.nodeId, (list = []));
      list.push(part);
    }
  }
  const out = new Map<string, string>();
  for (const [nodeId, list] of byNode) {
    list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    out.set(nodeId, joinAssignment(list.map((p) => p.encoded)));
  }
  return out;
}

/** The encoded record of a node with nothing to run. */
export const EMPTY_ASSIGNMENT = encodeAssignment([]);

function partsOf(
  record: TaskRecord,
  service: ServiceRecord,
  networks: ReadonlyMap<string, NetworkRecord>,
): Part[] {
  const hit = encodedRecords.get(record);
  if (hit?.service === service && hit.networks.every(([id, network]) => networks.get(id) === network)) {
    return hit.parts;
  }
  const used = new Map<string, NetworkRecord | undefined>();
  const parts: Part[] = [];
  for (const task of tasksOfSlot(record)) {
    if (task.nodeId === undefined || isTerminal(task.state)) continue;
    for (const a of task.attachments) used.set(a.networkId, networks.get(a.networkId));
    parts.push({
      nodeId: task.nodeId,
      id: task.id,
      encoded: encodeAssignedTask(assigned(task, service, networks)),
    });
  }
  encodedRecords.set(record, { service, networks: [...used], parts });
  return parts;
}

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
