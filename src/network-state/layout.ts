/**
 * Every key network state writes, in one place, so the on-store layout can be read (and later
 * moved into multi-key transactions) without hunting through the code. See
 * docs/network-state-layout.md for why it looks like this.
 */
export class Layout {
  readonly root: string;

  constructor(prefix: string) {
    this.root = prefix.replace(/^\/+|\/+$/g, '');
  }

  /** One record per network, keyed by name (names are unique; creating is a create-if-absent). */
  get networks(): string {
    return `${this.root}/networks`;
  }
  network(name: string): string {
    return `${this.networks}/${name}`;
  }

  get services(): string {
    return `${this.root}/services`;
  }
  service(name: string): string {
    return `${this.services}/${name}`;
  }

  /** Tasks of every service: `tasks/<serviceId>/<slot>`. */
  get tasks(): string {
    return `${this.root}/tasks`;
  }
  serviceTasks(serviceId: string): string {
    return `${this.tasks}/${serviceId}`;
  }
  task(serviceId: string, slot: number): string {
    return `${this.serviceTasks(serviceId)}/${String(slot).padStart(8, '0')}`;
  }

  /** The pools of one address space, with their owners and sub-pool references. */
  addressSpace(name: string): string {
    return `${this.root}/ipam/spaces/${name}`;
  }

  /** Every pool instance's claims live under here (`<instance>/chunks/<n>`, `<instance>/cursor`). */
  get poolInstances(): string {
    return `${this.root}/ipam/pools`;
  }
  poolInstance(instance: string): string {
    return `${this.poolInstances}/${instance}`;
  }

  /** VXLAN ID claims (offset = the VNI itself). */
  get vxlan(): string {
    return `${this.root}/vxlan`;
  }

  /** Bumped after every change that may let a waiting task proceed; allocators watch it. */
  get events(): string {
    return `${this.root}/events`;
  }
  get changed(): string {
    return `${this.events}/changed`;
  }

  /** The allocator leader lock. */
  get leader(): string {
    return `${this.root}/allocator/leader`;
  }

  /** One record per worker node, keyed by its id. */
  get nodes(): string {
    return `${this.root}/nodes`;
  }
  node(id: string): string {
    return `${this.nodes}/${id}`;
  }

  /**
   * Nodes by hostname (`hostnames/<hostname>/<id>`, value: when it was written): an agent that
   * registers reads its own hostname's few entries, never the whole node list.
   */
  get hostnames(): string {
    return `${this.root}/hostnames`;
  }
  hostnameNodes(hostname: string): string {
    return `${this.hostnames}/${hostname}`;
  }
  hostnameNode(hostname: string, id: string): string {
    return `${this.hostnameNodes(hostname)}/${id}`;
  }

  /**
   * Heartbeats and task reports: one record per agent process (a batch of its nodes), written
   * by that process only and watched by the acting manager only.
   */
  get agents(): string {
    return `${this.root}/agents`;
  }
  agent(senderId: string): string {
    return `${this.agents}/${senderId}`;
  }

  /** What each node must run: one record per node, written by the manager, watched by its agent. */
  get assignments(): string {
    return `${this.root}/assignments`;
  }
  assignment(nodeId: string): string {
    return `${this.assignments}/${nodeId}`;
  }

  /** The manager lock: exactly one manager acts at a time. */
  get managerLeader(): string {
    return `${this.root}/manager/leader`;
  }
}
