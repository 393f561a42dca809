import { addressFamily, canonicalName, isValidName, reverseName } from './names.js';

/**
 * What DNS answers from, whatever feeds it (the store's network state today, a gossip table
 * later): services with their virtual IPs and the tasks that may be answered. Deciding which
 * tasks are answerable (running, on a ready node) is the feed's job; everything here is the
 * naming rule.
 */
export interface DnsService {
  id: string;
  name: string;
  endpointMode: 'vip' | 'dnsrr';
  /** One per network in vip mode, once allocated. */
  vips: DnsAddress[];
  /** Only tasks that may be in DNS. */
  tasks: DnsTask[];
  /** ISO time: when two services claim one name, the older keeps it. */
  createdAt: string;
}

export interface DnsTask {
  id: string;
  slot: number;
  addresses: DnsAddress[];
}

export interface DnsAddress {
  /** The network's name (names are what queries carry: `web.mh_net`). */
  network: string;
  networkId?: string;
  /** Without prefix length: `10.9.0.5`. */
  address: string;
}

/** The addresses one name answers with. */
export interface NameRecord {
  v4: readonly string[];
  v6: readonly string[];
}

/**
 * Name forms, strongest first (Swarm's embedded DNS: libnetwork service_common.go, sandbox.go).
 * A name two forms produce goes to the stronger; within a form, to the older service — records
 * are keyed by (service, task), so one service's address never answers for another (moby#26733).
 */
const Form = {
  /** `<service>` */
  Service: 0,
  /** `tasks.<service>` */
  Tasks: 1,
  /** `<service>.<slot>.<task-id>` */
  Task: 2,
  /** `<service>.<network>` */
  ServiceOnNetwork: 3,
  /** `tasks.<service>.<network>` */
  TasksOnNetwork: 4,
  /** `<service>.<slot>.<task-id>.<network>` (the PTR target) */
  TaskOnNetwork: 5,
} as const;
type Form = (typeof Form)[keyof typeof Form];

interface Claim {
  form: Form;
  owner: DnsService;
  v4: Set<string>;
  v6: Set<string>;
}

/** Every name and reverse name DNS owns, built from the current records (never replayed events). */
export class RecordTable {
  readonly #names: Map<string, NameRecord>;
  readonly #reverse: Map<string, readonly string[]>;

  constructor(names: Map<string, NameRecord>, reverse: Map<string, readonly string[]>) {
    this.#names = names;
    this.#reverse = reverse;
  }

  static readonly EMPTY = new RecordTable(new Map(), new Map());

  /** The addresses of a canonical name; undefined when the name is not ours. */
  lookup(name: string): NameRecord | undefined {
    return this.#names.get(name);
  }

  /** PTR targets (fully qualified, with the trailing dot) of a canonical reverse name. */
  reverse(name: string): readonly string[] | undefined {
    return this.#reverse.get(name);
  }

  get size(): number {
    return this.#names.size;
  }
}

export interface BuildOptions {
  /** Networks served (names or ids); all when omitted. */
  networks?: readonly string[];
}

/**
 * Builds the table: for each service on each served network,
 * - `<service>` and `<service>.<network>`: the VIP (vip mode) or the tasks' addresses (dnsrr);
 * - `tasks.<service>` and `tasks.<service>.<network>`: the tasks' addresses, in both modes;
 * - `<service>.<slot>.<task-id>` (every served network) and `…​.<network>`: that task's addresses;
 * - PTR for every task address (`<service>.<slot>.<task-id>.<network>.`) and every VIP
 *   (`<service>.<network>.`; Docker has none, moby#46701).
 * A service with nothing to answer yet still owns its names (NOERROR, never forwarded).
 * Addresses are de-duplicated (moby#37892); names that cannot be DNS names are skipped.
 */
export function buildRecordTable(services: readonly DnsService[], opts: BuildOptions = {}): RecordTable {
  const served = opts.networks ? new Set(opts.networks) : null;
  const isServed = (a: DnsAddress) =>
    served === null || served.has(a.network) || (a.networkId !== undefined && served.has(a.networkId));
  const claims = new Map<string, Claim>();
  const reverse = new Map<string, Set<string>>();

  const claim = (form: Form, owner: DnsService, rawName: string, addresses: readonly string[]) => {
    const name = canonicalName(rawName);
    if (!isValidName(name)) return;
    let current = claims.get(name);
    if (
      current &&
      (current.form < form ||
        (current.form === form && current.owner !== owner && older(current.owner, owner)))
    )
      return;
    if (!current || current.owner !== owner || current.form !== form) {
      current = { form, owner, v4: new Set(), v6: new Set() };
      claims.set(name, current);
    }
    for (const address of addresses) {
      const family = addressFamily(address);
      if (family === 4) current.v4.add(address);
      else if (family === 6) current.v6.add(address);
    }
  };
  const pointer = (address: string, target: string) => {
    const name = reverseName(address);
    const fqdn = canonicalName(target);
    if (name === null || !isValidName(fqdn)) return;
    let targets = reverse.get(name);
    if (!targets) reverse.set(name, (targets = new Set()));
    targets.add(`${fqdn}.`);
  };

  for (const service of services) {
    const s = service.name;
    if (!isValidName(s) || s.includes('.')) continue;
    const networks = new Set<string>();
    const vips = service.endpointMode === 'vip' ? service.vips.filter(isServed) : [];
    const tasks = service.tasks.map((t) => ({ task: t, addresses: t.addresses.filter(isServed) }));
    for (const a of [...vips, ...tasks.flatMap((t) => t.addresses)]) networks.add(a.network);

    const taskAddrs = tasks.flatMap((t) => t.addresses.map((a) => a.address));
    claim(Form.Service, service, s, service.endpointMode === 'vip' ? vips.map((v) => v.address) : taskAddrs);
    claim(Form.Tasks, service, `tasks.${s}`, taskAddrs);
    for (const network of networks) {
      const onNet = (list: DnsAddress[]) => list.filter((a) => a.network === network).map((a) => a.address);
      const tasksHere = tasks.flatMap((t) => onNet(t.addresses));
      claim(
        Form.ServiceOnNetwork,
        service,
        `${s}.${network}`,
        service.endpointMode === 'vip' ? onNet(vips) : tasksHere,
      );
      claim(Form.TasksOnNetwork, service, `tasks.${s}.${network}`, tasksHere);
    }
    for (const vip of vips) pointer(vip.address, `${s}.${vip.network}`);
    for (const { task, addresses } of tasks) {
      const base = `${s}.${task.slot}.${task.id}`;
      claim(
        Form.Task,
        service,
        base,
        addresses.map((a) => a.address),
      );
      for (const a of addresses) {
        claim(Form.TaskOnNetwork, service, `${base}.${a.network}`, [a.address]);
        pointer(a.address, `${base}.${a.network}`);
      }
    }
  }

  const names = new Map<string, NameRecord>();
  for (const [name, c] of claims) names.set(name, { v4: [...c.v4], v6: [...c.v6] });
  const ptrs = new Map<string, readonly string[]>();
  for (const [name, targets] of reverse) ptrs.set(name, [...targets]);
  return new RecordTable(names, ptrs);
}

/** True when `a` was created before `b` (ids break ties), so `a` keeps a contested name. */
function older(a: DnsService, b: DnsService): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
}
