/**
 * A DNS server answering from several processes on one socket (`processes`, `--processes`): the
 * other processes answer with the same records, follow the store, are replaced when killed and
 * never outlive the server. To ask one of them and not the server's own process, the test stops
 * the server's process (SIGSTOP): then only the others can read the socket.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { childrenOf } from '../../../bench/lib/proc.js';
import { delay } from '../../../src/conformance/helpers.js';
import { createStore, type NetworkState, openNetworkState, type Store } from '../../../src/index.js';
import { KvkitProcess } from '../cli-process.js';
import { bare, DnsFixture, dig, digUntil, ipsOf } from './support.js';

/** A deadline against hangs: records normally reach every process within milliseconds. */
const WAIT_MS = 60_000;

/** The process state letter from /proc (S sleeping, T stopped, Z zombie, ...); '' when gone. */
function stateOf(pid: number): string {
  try {
    return /^\S+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}

/** Running or stopped; not gone, not a zombie. */
const alive = (pid: number) => !['', 'Z', 'X'].includes(stateOf(pid));

async function until<T>(probe: () => T | Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after ${WAIT_MS} ms`);
    await delay(50);
  }
}

describe('startDnsServer({ processes })', () => {
  it('refuses a count that is not a whole number from 1 to 64', async () => {
    for (const processes of [0, 1.5, 65, Number.NaN]) {
      await expect(DnsFixture.start({ processes })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('starts the other processes, answers through them, and leaves none behind after close', async () => {
    const before = new Set(childrenOf(process.pid));
    const f = await DnsFixture.start({ processes: 3 }, async (net) => {
      await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.10.0.0/24' }] });
    });
    let others: number[] = [];
    try {
      others = childrenOf(process.pid).filter((pid) => !before.has(pid));
      expect(others).toHaveLength(2);
      const { service } = await f.service({ name: 'web', networks: ['front'], replicas: 1 });
      const vip = bare(service.virtualIps[0].addr);
      // Answers settle on the VIP; then a run of queries, whichever process reads them, all agree.
      await digUntil(f.port, (a) => ipsOf(a)[0] === vip, ['web'], WAIT_MS);
      for (let i = 0; i < 20; i++) expect(ipsOf(await dig(f.port, 'web'))).toEqual([vip]);
    } finally {
      await f.close();
    }
    expect(others.filter(alive)).toEqual([]);
    expect(f.errors).toEqual([]);
  });
});

describe('kvkit dns serve --processes', () => {
  let dir: string;
  let store: Store;
  let net: NetworkState;
  const started: KvkitProcess[] = [];
  const seen = new Set<number>();

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kvkit-dns-processes-'));
    store = await createStore(`local://${dir}`);
    net = await openNetworkState(store);
    await net.createNetwork({ name: 'front', subnets: [{ subnet: '10.11.0.0/24' }] });
  });
  afterEach(async () => {
    for (const p of started) if (p.alive) p.child.kill('SIGCONT');
    await Promise.all(started.splice(0).map((p) => p.kill()));
    // Whatever the verdict, no answering process outlives the test.
    for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL');
    seen.clear();
    await net.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (): Promise<{ server: KvkitProcess; port: number }> => {
    const server = new KvkitProcess([
      'dns',
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--processes',
      '2',
      '--store',
      `local://${dir}`,
    ]);
    started.push(server);
    const line = await server.line(/^listening on /, WAIT_MS);
    return { server, port: Number(/:(\d+)$/.exec(line)?.[1]) };
  };
  const othersOf = (server: KvkitProcess) => {
    const pids = childrenOf(server.child.pid as number).filter((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('udp-process'),
    );
    for (const pid of pids) seen.add(pid);
    return pids;
  };
  /** What the other process answers for `name`: asked while the server's own process is stopped. */
  const askOther = async (server: KvkitProcess, port: number, name: string) => {
    server.child.kill('SIGSTOP');
    // A signal takes effect a little later: a query read meanwhile would wait for SIGCONT.
    await until(
      () => stateOf(server.child.pid as number),
      (state) => state === 'T',
      'the server stopped',
    );
    try {
      // No answer (null) while a replacement is still starting: it gets the socket from the
      // server's process, which is stopped; the caller asks again after SIGCONT.
      return ipsOf(await dig(port, name, '+time=2'));
    } catch {
      return null;
    } finally {
      server.child.kill('SIGCONT');
    }
  };
  const otherAnswers = (server: KvkitProcess, port: number, name: string, expected: string[]) =>
    until(
      () => askOther(server, port, name),
      (ips) => JSON.stringify(ips) === JSON.stringify(expected),
      `${name} from the other process`,
    );

  it('the other process answers alone, follows the store, and is replaced with current records when killed', async () => {
    const a = await net.createService({ name: 'alpha', networks: ['front'], replicas: 0 });
    await net.allocate();
    const alphaVip = bare((await net.inspectService(a.id)).virtualIps[0].addr);
    const { server, port } = await serve();
    const [other] = await until(
      () => othersOf(server),
      (p) => p.length === 1,
      'answering processes',
    );
    // Ready before `listening on`: it answers at once, alone.
    expect(await askOther(server, port, 'alpha')).toEqual([alphaVip]);

    // A service created now reaches the other process too.
    const b = await net.createService({ name: 'beta', networks: ['front'], replicas: 0 });
    await net.allocate();
    const betaVip = bare((await net.inspectService(b.id)).virtualIps[0].addr);
    await otherAnswers(server, port, 'beta', [betaVip]);

    // Killed, it is replaced; the replacement holds what changed while there was none.
    process.kill(other, 'SIGKILL');
    await net.removeService('alpha');
    const exitReported = new RegExp(`DNS process ${other} exited \\(signal SIGKILL\\)`);
    await until(
      () => server.stderr.join('\n'),
      (text) => exitReported.test(text),
      'the exit reported',
    );
    const [replacement] = await until(
      () => othersOf(server).filter((pid) => pid !== other && alive(pid)),
      (p) => p.length === 1,
      'a replacement process',
    );
    expect(replacement).not.toBe(other);
    await otherAnswers(server, port, 'alpha', []);
    expect(await askOther(server, port, 'beta')).toEqual([betaVip]);

    // SIGTERM: exit 0, and the other process goes with it.
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    await until(
      () => alive(replacement),
      (up) => !up,
      'the answering process after the server exited',
    );
  }, 180_000);

  it('SIGKILL of the server takes its other processes with it', async () => {
    const { server } = await serve();
    const others = await until(
      () => othersOf(server),
      (p) => p.length === 1,
      'answering processes',
    );
    await server.kill('SIGKILL');
    await until(
      () => others.filter(alive),
      (up) => up.length === 0,
      'answering processes after SIGKILL',
    );
  }, 120_000);
});
