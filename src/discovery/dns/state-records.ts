import type { Task } from '../../network-state/types.js';
import type { NetworkStateSnapshot } from '../../network-state/watch.js';
import type { DnsAddress, DnsService } from './records.js';

/**
 * Whether a task may be in DNS. Every predicate must hold: one explicit readiness rule, checked
 * on the current state, never on having seen an event (moby#36737). The Swarm loop adds "on a
 * ready node" here (moby#35548: a dead node's tasks leave DNS).
 */
export type TaskPredicate = (task: Task, state: NetworkStateSnapshot) => boolean;

/** Only tasks in state `running` are answered; a task that leaves `running` leaves DNS. */
export const isRunning: TaskPredicate = (task) => task.state === 'running';

export const TASK_IN_DNS: readonly TaskPredicate[] = [isRunning];

/** The DNS view of a network-state snapshot: services with their VIPs and answerable tasks. */
export function servicesFromState(
  state: NetworkStateSnapshot,
  predicates: readonly TaskPredicate[] = TASK_IN_DNS,
): DnsService[] {
  const networkName = new Map(state.networks.map((n) => [n.id, n.name]));
  const address = (networkId: string, cidr: string): DnsAddress | null => {
    const network = networkName.get(networkId);
    if (network === undefined) return null;
    const slash = cidr.indexOf('/');
    return { network, networkId, address: slash === -1 ? cidr : cidr.slice(0, slash) };
  };
  const tasksOf = new Map<string, Task[]>();
  for (const task of state.tasks) {
    if (!predicates.every((p) => p(task, state))) continue;
    const list = tasksOf.get(task.serviceId);
    if (list) list.push(task);
    else tasksOf.set(task.serviceId, [task]);
  }
  return state.services.map((service) => ({
    id: service.id,
    name: service.name,
    endpointMode: service.endpointMode,
    createdAt: service.createdAt,
    vips: service.virtualIps.flatMap((v) => address(v.networkId, v.addr) ?? []),
    tasks: (tasksOf.get(service.id) ?? []).map((task) => ({
      id: task.id,
      slot: task.slot,
      addresses: task.attachments.flatMap((a) =>
        a.addresses.flatMap((cidr) => address(a.networkId, cidr) ?? []),
      ),
    })),
  }));
}
