import type { Network, Node, Service, Task } from '../../network-state/types.js';
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

/**
 * Only tasks on a `ready` node: a node marked down takes its tasks out of DNS at once
 * (moby#35548). A task no node runs (network state driven by hand, no Swarm loop) is not held back.
 */
export const onReadyNode: TaskPredicate = (task, state) =>
  task.nodeId === undefined || readyNodes(state.nodes).has(task.nodeId);

/** A task told to shut down (scaled away, service removed) leaves DNS before it stops, as moby does. */
export const notShuttingDown: TaskPredicate = (task) => task.desiredState !== 'shutdown';

export const TASK_IN_DNS: readonly TaskPredicate[] = [isRunning, onReadyNode, notShuttingDown];

const readyByList = new WeakMap<readonly Node[], Set<string>>();

/** The ready node ids of one snapshot's node list, computed once per list. */
function readyNodes(nodes: readonly Node[]): Set<string> {
  let ready = readyByList.get(nodes);
  if (!ready) {
    ready = new Set(nodes.filter((n) => n.state === 'ready').map((n) => n.id));
    readyByList.set(nodes, ready);
  }
  return ready;
}

/**
 * The DNS view of network-state snapshots: services with their VIPs and answerable tasks. A
 * service whose record, answerable tasks and networks are the same objects as in the previous
 * snapshot (network state hands out unchanged records as the same objects) gets the same
 * DnsService back, so the record builder re-derives only what changed.
 */
export class StateRecords {
  readonly #predicates: readonly TaskPredicate[];
  #networks: readonly Network[] = [];
  #services: readonly Service[] = [];
  #tasks: Task[][] = [];
  #out: DnsService[] = [];

  constructor(predicates: readonly TaskPredicate[] = TASK_IN_DNS) {
    this.#predicates = predicates;
  }

  services(state: NetworkStateSnapshot): DnsService[] {
    const tasksOf = new Map<string, Task[]>();
    for (const task of state.tasks) {
      if (!this.#predicates.every((p) => p(task, state))) continue;
      const list = tasksOf.get(task.serviceId);
      if (list) list.push(task);
      else tasksOf.set(task.serviceId, [task]);
    }
    const networksSame = sameItems(state.networks, this.#networks);
    // The same service list (only tasks changed): compare position by position, no lookups.
    const aligned = networksSame && state.services === this.#services;
    const before = aligned ? null : this.#byId();
    const networkName = new Map(state.networks.map((n) => [n.id, n.name]));
    const tasksNow: Task[][] = [];
    const out: DnsService[] = [];
    for (let i = 0; i < state.services.length; i++) {
      const service = state.services[i];
      const tasks = tasksOf.get(service.id) ?? NO_TASKS;
      const previous = aligned ? { tasks: this.#tasks[i], dns: this.#out[i] } : before?.get(service);
      const reuse = networksSame && previous !== undefined && sameItems(previous.tasks, tasks);
      tasksNow.push(tasks);
      out.push(reuse && previous ? previous.dns : toDnsService(service, tasks, networkName));
    }
    this.#networks = state.networks;
    this.#services = state.services;
    this.#tasks = tasksNow;
    this.#out = out;
    return out;
  }

  #byId(): Map<Service, { tasks: Task[]; dns: DnsService }> {
    const map = new Map<Service, { tasks: Task[]; dns: DnsService }>();
    for (let i = 0; i < this.#services.length; i++) {
      map.set(this.#services[i], { tasks: this.#tasks[i], dns: this.#out[i] });
    }
    return map;
  }
}

const NO_TASKS: Task[] = [];

/** One snapshot's DNS view, without keeping anything. */
export function servicesFromState(
  state: NetworkStateSnapshot,
  predicates: readonly TaskPredicate[] = TASK_IN_DNS,
): DnsService[] {
  return new StateRecords(predicates).services(state);
}

function toDnsService(service: Service, tasks: Task[], networkName: Map<string, string>): DnsService {
  const address = (networkId: string, cidr: string): DnsAddress | null => {
    const network = networkName.get(networkId);
    if (network === undefined) return null;
    const slash = cidr.indexOf('/');
    return { network, networkId, address: slash === -1 ? cidr : cidr.slice(0, slash) };
  };
  return {
    id: service.id,
    name: service.name,
    endpointMode: service.endpointMode,
    createdAt: service.createdAt,
    vips: service.virtualIps.flatMap((v) => address(v.networkId, v.addr) ?? []),
    tasks: tasks.map((task) => ({
      id: task.id,
      slot: task.slot,
      addresses: task.attachments.flatMap((a) =>
        a.addresses.flatMap((cidr) => address(a.networkId, cidr) ?? []),
      ),
    })),
  };
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
