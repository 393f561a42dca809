import { type ChildProcess, fork } from 'node:child_process';
import type dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Endpoint } from '../../store/endpoints.js';
import { KVError } from '../../store/errors.js';
import type { DnsService } from './records.js';

/** Processes at most, this one included (each answers UDP on the shared socket). */
export const MAX_DNS_PROCESSES = 64;
/** A process that died is replaced after this long (ms), so a crash loop costs little. */
const RESPAWN_DELAY_MS = 1000;
/** How long a process may take to exit once asked to (ms); then it is killed. */
const EXIT_TIMEOUT_MS = 5000;
/** The tail of a process's stderr kept for the error saying why it died. */
const STDERR_TAIL_BYTES = 2048;

/** What every answering process is told once, with the socket. */
export interface UdpProcessConfig {
  ttlSeconds: number;
  upstreams: Endpoint[];
  networks: string[] | undefined;
}

/** Parent → child. `records` carries the services changed since the last one, and the ids gone. */
export type ToUdpProcess =
  | { kind: 'config'; config: UdpProcessConfig }
  | { kind: 'records'; changed: DnsService[]; removed: string[] }
  | { kind: 'socket' };

/** Child → parent. */
export type FromUdpProcess = { kind: 'ready' } | { kind: 'error'; message: string };

/** The error of a DNS process that could not start or died. */
export class DnsProcessError extends KVError {
  constructor(message: string) {
    super('DNS_PROCESS_FAILED', message);
  }
}

/**
 * The other processes answering UDP queries on this server's socket: Node answers a datagram on
 * one thread, so more processes holding the same socket answer more queries (the kernel hands
 * each datagram to one of them). Each holds its own copy of the records: this process sends
 * every process the services that changed, one message in flight per process, so a slow one
 * gets the changes coalesced, never an unbounded queue. TCP and the record feed stay here.
 */
export class UdpProcesses {
  readonly #udp: dgram.Socket;
  readonly #config: UdpProcessConfig;
  readonly #onError: (err: unknown) => void;
  readonly #members: UdpProcess[] = [];
  #services: readonly DnsService[];
  #closed = false;

  private constructor(
    udp: dgram.Socket,
    config: UdpProcessConfig,
    services: readonly DnsService[],
    onError: (err: unknown) => void,
  ) {
    this.#udp = udp;
    this.#config = config;
    this.#services = services;
    this.#onError = onError;
  }

  /** Starts `count` processes; resolves once each holds the socket and the records of `services`. */
  static async start(
    udp: dgram.Socket,
    count: number,
    config: UdpProcessConfig,
    services: readonly DnsService[],
    opts: { timeoutMs: number; onError: (err: unknown) => void },
  ): Promise<UdpProcesses> {
    const group = new UdpProcesses(udp, config, services, opts.onError);
    try {
      for (let i = 0; i < count; i++) group.#members.push(new UdpProcess(group.#spawnArgs()));
      await Promise.all(group.#members.map((m) => m.ready(opts.timeoutMs)));
    } catch (err) {
      await group.close();
      throw err;
    }
    return group;
  }

  /** The services now: each process gets what changed for it. */
  publish(services: readonly DnsService[]): void {
    this.#services = services;
    for (const member of this.#members) member.publish(services);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#members.map((m) => m.close()));
  }

  #spawnArgs(): SpawnArgs {
    return {
      udp: this.#udp,
      config: this.#config,
      services: () => this.#services,
      onError: this.#onError,
      closed: () => this.#closed,
    };
  }
}

interface SpawnArgs {
  udp: dgram.Socket;
  config: UdpProcessConfig;
  services: () => readonly DnsService[];
  onError: (err: unknown) => void;
  closed: () => boolean;
}

/** One answering process, replaced after a delay when it dies. */
class UdpProcess {
  readonly #args: SpawnArgs;
  #child!: ChildProcess;
  /** What this process holds: the service objects sent to it, by id. */
  #sent = new Map<string, DnsService>();
  #inFlight = false;
  #dirty = false;
  /** Whether the first records went out (it goes even when empty: the process waits for it). */
  #primed = false;
  #readyOnce!: Promise<void>;
  #respawn: NodeJS.Timeout | null = null;
  #exited!: Promise<void>;

  constructor(args: SpawnArgs) {
    this.#args = args;
    this.#spawn();
  }

  ready(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DnsProcessError(`a DNS process did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    return Promise.race([this.#readyOnce, late]).finally(() => clearTimeout(timer));
  }

  publish(services: readonly DnsService[]): void {
    if (this.#inFlight) {
      this.#dirty = true;
      return;
    }
    const changed: DnsService[] = [];
    const next = new Map<string, DnsService>();
    for (const service of services) {
      next.set(service.id, service);
      if (this.#sent.get(service.id) !== service) changed.push(service);
    }
    const removed: string[] = [];
    for (const id of this.#sent.keys()) if (!next.has(id)) removed.push(id);
    if (changed.length === 0 && removed.length === 0 && this.#primed) return;
    this.#primed = true;
    this.#sent = next;
    this.#send({ kind: 'records', changed, removed });
  }

  async close(): Promise<void> {
    if (this.#respawn) clearTimeout(this.#respawn);
    this.#respawn = null;
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null) {
      // A disconnected process closes its copy of the socket and exits (udp-process.ts).
      if (child.connected) child.disconnect();
      const killer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
      await this.#exited;
      clearTimeout(killer);
    }
  }

  /** Sends records, one message in flight: the next goes when this one is written. */
  #send(message: ToUdpProcess): void {
    const child = this.#child;
    if (!child.connected) return;
    this.#inFlight = true;
    child.send(message, undefined, (err) => {
      if (child !== this.#child) return;
      this.#inFlight = false;
      if (err) return; // the process is going; its replacement gets everything
      if (this.#dirty) {
        this.#dirty = false;
        this.publish(this.#args.services());
      }
    });
  }

  #spawn(): void {
    const { entry, execArgv } = entryPoint();
    const child = fork(entry, [], {
      execArgv,
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.#child = child;
    this.#sent = new Map();
    this.#inFlight = false;
    this.#dirty = false;
    this.#primed = false;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    let readyNow: () => void = () => {};
    let failedNow: (err: Error) => void = () => {};
    this.#readyOnce = new Promise<void>((resolve, reject) => {
      readyNow = resolve;
      failedNow = reject;
    });
    // Only start() awaits readiness; a replacement's failure is reported through onError.
    this.#readyOnce.catch(() => {});
    child.on('message', (message: FromUdpProcess) => {
      if (message?.kind === 'ready') readyNow();
      else if (message?.kind === 'error') this.#args.onError(new DnsProcessError(message.message));
    });
    child.on('error', (err) => this.#args.onError(err));
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        const why = signal ? `signal ${signal}` : `code ${code}`;
        const tail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
        const err = new DnsProcessError(`DNS process ${child.pid} exited (${why})${tail}`);
        failedNow(err);
        if (this.#args.closed()) return;
        this.#args.onError(err);
        this.#respawn = setTimeout(() => {
          this.#respawn = null;
          if (!this.#args.closed()) this.#spawn();
        }, RESPAWN_DELAY_MS);
      });
    });
    // In this order on the channel: the settings, the first records, then the socket — so the
    // process starts reading queries only with its table built and its listener attached.
    child.send({ kind: 'config', config: this.#args.config } satisfies ToUdpProcess);
    this.publish(this.#args.services());
    child.send({ kind: 'socket' } satisfies ToUdpProcess, this.#args.udp as never);
  }
}

/** The child's module: compiled JavaScript, or the TypeScript source run through tsx in development. */
function entryPoint(): { entry: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(fromSource ? './udp-process.ts' : './udp-process.js', import.meta.url));
  if (!fromSource) return { entry, execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { entry, execArgv: ['--import', tsx] };
}
