import { type ChildProcess, spawn } from 'node:child_process';

/**
 * dnsmasq (Debian dnsmasq-base) on a loopback port, as a real upstream for the DNS tests and the
 * baseline of bench/dns.ts. It cannot be told to pick a free port, so a random high port is tried
 * and another taken when that one is in use (never probe-then-bind). Killed with stop().
 */
export class Dnsmasq {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {}

  /** `addresses` are `--address=/name/ip` rules; `extra` any other flags (e.g. `--addn-hosts=FILE`). */
  static async start(addresses: string[], extra: string[] = []): Promise<Dnsmasq> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 40_000);
      const child = spawn(
        '/usr/sbin/dnsmasq',
        [
          '--keep-in-foreground',
          '--no-resolv',
          '--no-hosts',
          '--log-facility=-',
          `--port=${port}`,
          '--listen-address=127.0.0.1',
          '--bind-interfaces',
          '--user=root',
          ...addresses.map((a) => `--address=${a}`),
          ...extra,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      const outcome = await new Promise<string>((resolve) => {
        let err = '';
        const timer = setTimeout(() => resolve(`dnsmasq did not start: ${err}`), 15_000);
        child.stderr?.on('data', (chunk: Buffer) => {
          err += chunk.toString();
          if (/started, version/.test(err)) {
            clearTimeout(timer);
            resolve('up');
          }
        });
        child.on('exit', () => {
          clearTimeout(timer);
          resolve(/in use/i.test(err) ? 'taken' : `dnsmasq exited: ${err}`);
        });
      });
      if (outcome === 'up') return new Dnsmasq(port, child);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (outcome !== 'taken') throw new Error(outcome);
    }
    throw new Error('no free port for dnsmasq after 20 tries');
  }

  /** The process id (to read its CPU time from /proc). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}
