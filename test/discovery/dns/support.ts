/**
 * What the DNS tests share: a network state on a memory store with a DNS server in front of it,
 * real resolvers (`dig`, Node's Resolver) pointed at its port, and dnsmasq as a real upstream.
 */
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { promisify } from 'node:util';
import {
  createStore,
  type DnsServer,
  type DnsServerOptions,
  type NetworkState,
  openNetworkState,
  type Service,
  type Store,
  startDnsServer,
  type Task,
} from '../../../src/index.js';

const run = promisify(execFile);

/** A memory store with network state and a DNS server on it; close() tears all down. */
export class DnsFixture {
  private constructor(
    readonly store: Store,
    readonly net: NetworkState,
    readonly dns: DnsServer,
    /** What the server reported through onError. */
    readonly errors: unknown[],
  ) {}

  static async start(
    opts: Partial<DnsServerOptions> = {},
    setup?: (net: NetworkState) => Promise<void>,
  ): Promise<DnsFixture> {
    const store = await createStore('memory:');
    const net = await openNetworkState(store);
    try {
      await setup?.(net);
      const errors: unknown[] = [];
      const dns = await startDnsServer({
        store,
        listen: '127.0.0.1:0',
        onError: (e) => errors.push(e),
        ...opts,
      });
      return new DnsFixture(store, net, dns, errors);
    } catch (err) {
      await net.close();
      await store.close();
      throw err;
    }
  }

  get port(): number {
    return this.dns.address.port;
  }

  /** Creates a service, allocates it and moves `running` of its tasks (default all) to running. */
  async service(
    opts: { name: string; networks: string[]; replicas: number; endpointMode?: 'vip' | 'dnsrr' },
    running = opts.replicas,
  ): Promise<{ service: Service; tasks: Task[] }> {
    const service = await this.net.createService(opts);
    await this.net.allocate();
    const tasks = await this.net.listTasks({ service: service.name });
    for (const task of tasks.slice(0, running)) await this.net.updateTaskState(task.id, 'running');
    return {
      service: await this.net.inspectService(service.id),
      tasks: await this.net.listTasks({ service: service.name }),
    };
  }

  /** The running tasks' addresses of a service on one network (or all), sorted. */
  async runningAddresses(service: string, networkId?: string): Promise<string[]> {
    const tasks = (await this.net.listTasks({ service })).filter((t) => t.state === 'running');
    return sortIps(
      tasks.flatMap((t) =>
        t.attachments
          .filter((a) => !networkId || a.networkId === networkId)
          .flatMap((a) => a.addresses.map(bare)),
      ),
    );
  }

  resolver(): Resolver {
    return resolverAt(this.port);
  }

  dig(...args: string[]): Promise<DigAnswer> {
    return dig(this.port, ...args);
  }

  /** Asks `dig ...args` until `done(answer)` holds or `ms` passes (against hangs); returns the last answer. */
  digUntil(done: (answer: DigAnswer) => boolean, args: string[], ms = 60_000): Promise<DigAnswer> {
    return digUntil(this.port, done, args, ms);
  }

  async close(): Promise<void> {
    await this.dns.close();
    await this.net.close();
    await this.store.close();
  }
}

/**
 * Node's resolver on one server: no EDNS, retries over TCP when TC is set. Generous timeouts:
 * they only bound a hang, never decide a verdict on a busy machine.
 */
export function resolverAt(port: number): Resolver {
  const resolver = new Resolver({ timeout: 5000, tries: 3 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return resolver;
}

/** `10.9.0.5/24` → `10.9.0.5`. */
export function bare(cidr: string): string {
  return cidr.split('/')[0];
}

export function sortIps(ips: string[]): string[] {
  return [...ips].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** What dig printed, parsed: status, flags, the answer section, the OPT size, the size received. */
export interface DigAnswer {
  text: string;
  status: string;
  flags: string[];
  answers: { name: string; ttl: number; type: string; data: string }[];
  ednsUdp: number | null;
  bytes: number;
}

/**
 * Runs `dig @127.0.0.1 -p PORT ...args` (tries once, waits up to 10 s: a bound against hangs, not a
 * verdict; later `+time=` arguments win) and parses its output.
 */
export async function dig(port: number, ...args: string[]): Promise<DigAnswer> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=10', ...args]);
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = /;; flags: ([^;]*);/.exec(stdout)?.[1].trim().split(/\s+/) ?? [];
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(stdout)?.[1] ?? '';
  const answers = section
    .split('\n')
    .filter((l) => l && !l.startsWith(';'))
    .map((l) => {
      const [name, ttl, , type, ...data] = l.split(/\s+/);
      return { name, ttl: Number(ttl), type, data: data.join(' ') };
    });
  const ednsUdp = /EDNS: version: \d+, flags:[^;]*; udp: (\d+)/.exec(stdout);
  const bytes = /MSG SIZE\s+rcvd: (\d+)/.exec(stdout);
  return {
    text: stdout,
    status,
    flags,
    answers,
    ednsUdp: ednsUdp ? Number(ednsUdp[1]) : null,
    bytes: bytes ? Number(bytes[1]) : 0,
  };
}

/** Asks `dig ...args` until `done(answer)` holds or `ms` passes; returns the last answer. */
export async function digUntil(
  port: number,
  done: (answer: DigAnswer) => boolean,
  args: string[],
  ms = 60_000,
): Promise<DigAnswer> {
  const deadline = Date.now() + ms;
  for (;;) {
    const answer = await dig(port, ...args);
    if (done(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The data of A/AAAA answers, sorted. */
export function ipsOf(answer: DigAnswer): string[] {
  return sortIps(answer.answers.filter((a) => a.type === 'A' || a.type === 'AAAA').map((a) => a.data));
}

/** A real upstream resolver: the dnsmasq launcher the benchmark uses. */
export { Dnsmasq } from '../../../bench/lib/dnsmasq.js';

/**
 * Sends one UDP packet and returns the first reply, or null if none comes within `ms` (5 s by
 * default, for replies a test expects; a test expecting silence passes a short wait).
 */
export async function udpExchange(port: number, packet: Buffer, ms = 5000): Promise<Buffer | null> {
  const { createSocket } = await import('node:dgram');
  const socket = createSocket('udp4');
  try {
    return await new Promise<Buffer | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(packet, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

/** Sends frames over one TCP connection and collects `count` length-prefixed replies. */
export async function tcpExchange(
  port: number,
  frames: Buffer[],
  count: number,
  ms = 5000,
): Promise<Buffer[]> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const replies: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`got ${replies.length} of ${count} TCP replies in ${ms} ms`));
    }, ms);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        replies.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      if (replies.length >= count) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
    socket.on('connect', () => {
      socket.write(
        Buffer.concat(
          frames.map((f) => {
            const length = Buffer.alloc(2);
            length.writeUInt16BE(f.length);
            return Buffer.concat([length, f]);
          }),
        ),
      );
    });
  });
}

/** A query packet built by hand (for packets dns-packet would refuse to write). */
export function rawQuery(
  labels: (string | Buffer)[],
  opts: { id?: number; flags?: number; qdcount?: number } = {},
): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(opts.id ?? 0x1234, 0);
  header.writeUInt16BE(opts.flags ?? 0x0100, 2);
  header.writeUInt16BE(opts.qdcount ?? 1, 4);
  const name = Buffer.concat([
    ...labels.map((l) => {
      const bytes = typeof l === 'string' ? Buffer.from(l) : l;
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }),
    Buffer.from([0]),
  ]);
  return Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]);
}
