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

/** The names and reverse names one service produces (addresses de-duplicated). */
interface Contribution {
  names: Map<string, { form: Form; record: NameRecord }>;
  pointers: [reverse: string, target: string][];
}

interface Candidate {
  form: Form;
  owner: DnsService;
  record: NameRecord;
}

/** Every name and reverse name DNS owns, built from the current records (never replayed events). */
export class RecordTable {
  readonly #names: ReadonlyMap<string, NameRecord>;
  readonly #reverse: ReadonlyMap<string, ReadonlyMap<string, number>>;

  constructor(
    names: ReadonlyMap<string, NameRecord>,
    reverse: ReadonlyMap<string, ReadonlyMap<string, number>>,
  ) {
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
    const targets = this.#reverse.get(name);
    return targets && [...targets.keys()];
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
 * Keeps the record table of a changing list of services. Each build compares the list with the
 * previous one by object: a feed that hands back the same object for an unchanged service (the
 * network-state feed does) pays only for the services that changed, however many there are.
 * The table returned by a build is valid until the next build; the services of a list have
 * distinct ids.
 *
 * For each service on each served network:
 * - `<service>` and `<service>.<network>`: the VIP (vip mode) or the tasks' addresses (dnsrr);
 * - `tasks.<service>` and `tasks.<service>.<network>`: the tasks' addresses, in both modes;
 * - `<service>.<slot>.<task-id>` (every served network) and `….<network>`: that task's addresses;
 * - PTR for every task address (`<service>.<slot>.<task-id>.<network>.`) and every VIP
 *   (`<service>.<network>.`; Docker has none, moby#46701).
 * A service with nothing to answer yet still owns its names (NOERROR, never forwarded).
 * Addresses are de-duplicated (moby#37892); names that cannot be DNS names are skipped.
 */
export class RecordBuilder {
  readonly #served: Set<string> | null;
  readonly #contributions = new WeakMap<DnsService, Contribution>();
  #current: readonly DnsService[] = [];
  readonly #candidates = new Map<string, Candidate[]>();
  readonly #names = new Map<string, NameRecord>();
  readonly #reverse = new Map<string, Map<string, number>>();
  readonly #table = new RecordTable(this.#names, this.#reverse);

  constructor(opts: BuildOptions = {}) {
    this.#served = opts.networks ? new Set(opts.networks) : null;
  }

  build(services: readonly DnsService[]): RecordTable {
    const before = this.#current;
    let gone: DnsService[];
    let come: DnsService[];
    if (before.length === services.length) {
      // Walk both lists side by side; only the positions that differ can hold changes (an
      // object that merely moved shows up on both sides and is neither removed nor added).
      const was: DnsService[] = [];
      const now: DnsService[] = [];
      for (let i = 0; i < services.length; i++) {
        if (before[i] !== services[i]) {
          was.push(before[i]);
          now.push(services[i]);
        }
      }
      const wasSet = new Set(was);
      const nowSet = new Set(now);
      gone = was.filter((s) => !nowSet.has(s));
      come = now.filter((s) => !wasSet.has(s));
    } else {
      const wasSet = new Set(before);
      const nowSet = new Set(services);
      gone = before.filter((s) => !nowSet.has(s));
      come = services.filter((s) => !wasSet.has(s));
    }
    for (const service of gone) this.#remove(service);
    for (const service of new Set(come)) this.#add(service);
    this.#current = [...services];
    return this.#table;
  }

  #add(service: DnsService): void {
    const contribution = this.#contribution(service);
    for (const [name, { form, record }] of contribution.names) {
      const candidates = this.#candidates.get(name);
      if (candidates) candidates.push({ form, owner: service, record });
      else this.#candidates.set(name, [{ form, owner: service, record }]);
      this.#elect(name);
    }
    for (const [name, target] of contribution.pointers) {
      let targets = this.#reverse.get(name);
      if (!targets) this.#reverse.set(name, (targets = new Map()));
      targets.set(target, (targets.get(target) ?? 0) + 1);
    }
  }

  #remove(service: DnsService): void {
    const contribution = this.#contribution(service);
    for (const name of contribution.names.keys()) {
      const left = (this.#candidates.get(name) ?? []).filter((c) => c.owner !== service);
      if (left.length > 0) this.#candidates.set(name, left);
      else this.#candidates.delete(name);
      this.#elect(name);
    }
    for (const [name, target] of contribution.pointers) {
      const targets = this.#reverse.get(name);
      const count = (targets?.get(target) ?? 0) - 1;
      if (count > 0) targets?.set(target, count);
      else targets?.delete(target);
      if (targets?.size === 0) this.#reverse.delete(name);
    }
  }

  /** The stronger form wins a name; within a form, the older service. */
  #elect(name: string): void {
    const candidates = this.#candidates.get(name);
    if (!candidates) {
      this.#names.delete(name);
      return;
    }
    let best = candidates[0];
    for (const c of candidates) {
      if (c.form < best.form || (c.form === best.form && older(c.owner, best.owner))) best = c;
    }
    this.#names.set(name, best.record);
  }

  #contribution(service: DnsService): Contribution {
    let contribution = this.#contributions.get(service);
    if (!contribution) {
      contribution = this.#contribute(service);
      this.#contributions.set(service, contribution);
    }
    return contribution;
  }

  #contribute(service: DnsService): Contribution {
    const served = this.#served;
    const isServed = (a: DnsAddress) =>
      served === null || served.has(a.network) || (a.networkId !== undefined && served.has(a.networkId));
    const claims = new Map<string, { form: Form; v4: Set<string>; v6: Set<string> }>();
    const pointers: Contribution['pointers'] = [];
    const claim = (form: Form, rawName: string, addresses: readonly string[]) => {
      const name = canonicalName(rawName);
      if (!isValidName(name)) return;
      let current = claims.get(name);
      if (current && current.form < form) return;
      if (!current || current.form > form) {
        current = { form, v4: new Set(), v6: new Set() };
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
      if (name !== null && isValidName(fqdn)) pointers.push([name, `${fqdn}.`]);
    };

    const s = service.name;
    if (isValidName(s) && !s.includes('.')) {
      const vip = service.endpointMode === 'vip';
      const vips = vip ? service.vips.filter(isServed) : [];
      const tasks = service.tasks.map((t) => ({ task: t, addresses: t.addresses.filter(isServed) }));
      const taskAddrs = tasks.flatMap((t) => t.addresses.map((a) => a.address));
      claim(Form.Service, s, vip ? vips.map((v) => v.address) : taskAddrs);
      claim(Form.Tasks, `tasks.${s}`, taskAddrs);
      const networks = new Set([...vips, ...tasks.flatMap((t) => t.addresses)].map((a) => a.network));
      for (const network of networks) {
        const onNet = (list: DnsAddress[]) => list.filter((a) => a.network === network).map((a) => a.address);
        const tasksHere = tasks.flatMap((t) => onNet(t.addresses));
        claim(Form.ServiceOnNetwork, `${s}.${network}`, vip ? onNet(vips) : tasksHere);
        claim(Form.TasksOnNetwork, `tasks.${s}.${network}`, tasksHere);
      }
      for (const v of vips) pointer(v.address, `${s}.${v.network}`);
      for (const { task, addresses } of tasks) {
        const base = `${s}.${task.slot}.${task.id}`;
        claim(
          Form.Task,
          base,
          addresses.map((a) => a.address),
        );
        for (const a of addresses) {
          claim(Form.TaskOnNetwork, `${base}.${a.network}`, [a.address]);
          pointer(a.address, `${base}.${a.network}`);
        }
      }
    }
    const names: Contribution['names'] = new Map();
    for (const [name, c] of claims)
      names.set(name, { form: c.form, record: { v4: [...c.v4], v6: [...c.v6] } });
    return { names, pointers };
  }
}

/** One build, without keeping anything (tests, one-off tables). */
export function buildRecordTable(services: readonly DnsService[], opts: BuildOptions = {}): RecordTable {
  return new RecordBuilder(opts).build(services);
}

/** True when `a` was created before `b` (ids break ties), so `a` keeps a contested name. */
function older(a: DnsService, b: DnsService): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
}
