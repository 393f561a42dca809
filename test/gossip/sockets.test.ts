/**
 * Real sockets: 21 gossip members on loopback in three child processes (7 each), with the
 * default (memberlist LAN) timings. Every wait has a generous deadline; nothing asserts speed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, MemberProcess } from './member-processes.js';

const T = 'endpoint_table';
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const K1 = b64(randomBytes(32));
const K2 = b64(randomBytes(16));
const K3 = b64(randomBytes(32));

const GROUPS = { a: 'A', b: 'B', c: 'C' } as const;
const NAMES = Object.fromEntries(
  Object.keys(GROUPS).map((g) => [g, Array.from({ length: 7 }, (_, i) => `${g}${i + 1}`)]),
) as Record<keyof typeof GROUPS, string[]>;
const ALL = Object.values(NAMES).flat();
/** red: all of A and b1..b3; blue: all of B and C (b1..b3 are on both). */
const RED = [...NAMES.a, 'b1', 'b2', 'b3'];
const BLUE = [...NAMES.b, ...NAMES.c];

interface Entry {
  key: string;
  owner: string;
  value: string;
}
interface Member {
  name: string;
  addr: string;
  state: string;
}

const procs = new Map<string, MemberProcess>();
let seed = '';
const procOf = (name: string): MemberProcess => procs.get(name[0]) as MemberProcess;
const call = <R>(name: string, op: string, args: Record<string, unknown> = {}): Promise<R> =>
  procOf(name).call<R>(op, { member: name, ...args });
const entries = (name: string, network: string): Promise<Entry[]> =>
  call(name, 'entries', { network, table: T });
const members = (name: string): Promise<Member[]> => call(name, 'members');

async function startGroup(group: keyof typeof GROUPS, keys: string[]): Promise<void> {
  const proc = new MemberProcess(GROUPS[group]);
  procs.set(group, proc);
  for (const name of NAMES[group]) {
    const addr = await proc.call<string>('start', { name, keys, join: seed ? [seed] : undefined });
    if (!seed) seed = addr;
    for (const [network, list] of [
      ['red', RED],
      ['blue', BLUE],
    ] as const) {
      if (list.includes(name)) await proc.call('joinNetwork', { member: name, network });
    }
  }
}

async function allSee(names: string[], check: (ms: Member[]) => boolean): Promise<boolean> {
  for (const name of names) if (!check(await members(name))) return false;
  return true;
}

const stateOf = (ms: Member[], name: string): string | undefined => ms.find((m) => m.name === name)?.state;

describe('gossip on real sockets: 21 members in 3 processes', () => {
  beforeAll(async () => {
    for (const group of ['a', 'b', 'c'] as const) await startGroup(group, [K1]);
    await eventually('every member sees 21 alive', () =>
      allSee(ALL, (ms) => ms.filter((m) => m.state === 'alive').length === 21),
    );
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.kill()));
  });

  it('delivers an entry to every member of its network and to no other member', async () => {
    await call('a1', 'setEntry', {
      network: 'red',
      table: T,
      key: 'web.1',
      value: b64(Buffer.from('10.0.1.1')),
    });
    await call('c7', 'setEntry', {
      network: 'blue',
      table: T,
      key: 'db.1',
      value: b64(Buffer.from('10.0.2.1')),
    });
    await eventually('red members have web.1', async () => {
      for (const n of RED) if (!(await entries(n, 'red')).some((e) => e.key === 'web.1')) return false;
      return true;
    });
    await eventually('blue members have db.1', async () => {
      for (const n of BLUE) if (!(await entries(n, 'blue')).some((e) => e.key === 'db.1')) return false;
      return true;
    });
    for (const n of ALL.filter((x) => !RED.includes(x))) expect(await entries(n, 'red')).toEqual([]);
    for (const n of ALL.filter((x) => !BLUE.includes(x))) expect(await entries(n, 'blue')).toEqual([]);
    // b1 is on both networks and holds both.
    expect((await entries('b1', 'red')).map((e) => e.key)).toContain('web.1');
    expect((await entries('b1', 'blue')).map((e) => e.key)).toContain('db.1');
  }, 120_000);

  it("marks a SIGKILLed process's members dead everywhere, hides their entries, and shows them again when it restarts", async () => {
    for (const n of NAMES.c) {
      await call(n, 'setEntry', { network: 'blue', table: T, key: `task.${n}`, value: b64(Buffer.from(n)) });
    }
    const cOwned = (es: Entry[]): number =>
      es.filter((e) => e.owner.startsWith('c') && e.key.startsWith('task.')).length;
    await eventually('every blue member sees the 7 C tasks', async () => {
      for (const n of NAMES.b) if (cOwned(await entries(n, 'blue')) !== 7) return false;
      return true;
    });
    await procOf('c1').kill();
    const survivors = [...NAMES.a, ...NAMES.b];
    await eventually(
      'every survivor sees c1..c7 dead',
      () => allSee(survivors, (ms) => NAMES.c.every((c) => stateOf(ms, c) === 'dead')),
      90_000,
    );
    for (const n of NAMES.b) expect(cOwned(await entries(n, 'blue'))).toBe(0);
    const hidden = await call<{ network: string; hidden: number }[]>('b1', 'networks');
    expect(hidden.find((s) => s.network === 'blue')?.hidden).toBeGreaterThanOrEqual(7);

    // Restart under the same names (new ports): alive again, the hidden entries shown again.
    await startGroup('c', [K1]);
    await eventually('every member sees 21 alive again', () =>
      allSee(ALL, (ms) => ms.filter((m) => m.state === 'alive').length === 21),
    );
    // A failed check throws what it saw, so a timeout says which member lagged.
    await eventually('the C tasks show again on B, and C took them back', async () => {
      for (const n of [...NAMES.b, 'c3']) {
        const shown = cOwned(await entries(n, 'blue'));
        if (shown !== 7) throw new Error(`${n} shows ${shown} of the 7 C tasks`);
      }
      return true;
    });
  }, 240_000);

  it('a member with the wrong key learns nothing and is reported', async () => {
    const a = procOf('a1');
    const before = a.logs.length;
    const intruder = new MemberProcess('intruder');
    try {
      await expect(
        intruder.call('start', { name: 'intruder', keys: [b64(randomBytes(32))], join: [seed] }),
      ).rejects.toMatchObject({ code: 'NOT_REACHABLE' });
      await eventually('a1 reported the refused stream', async () =>
        a.logs.slice(before).some((l) => /refused a stream .*no installed key/.test(l)),
      );
      expect(await allSee(ALL, (ms) => ms.every((m) => m.name !== 'intruder'))).toBe(true);
    } finally {
      await intruder.kill();
    }
  }, 120_000);

  it('loses nothing over two key rotations, one of them while a member process is stopped', async () => {
    const everywhere = (keys: string[], groups = ['a', 'b', 'c']): Promise<unknown> =>
      Promise.all(groups.map((g) => (procs.get(g) as MemberProcess).call('setKeys', { keys })));
    let written = 0;
    const write = async (owner: string, network: 'red' | 'blue'): Promise<void> => {
      written++;
      await call(owner, 'setEntry', {
        network,
        table: T,
        key: `rot.${written}`,
        value: b64(Buffer.from(String(written))),
      });
    };

    // Rotation 1, everyone running: add K2, make it primary, drop K1 — writing at each step.
    await everywhere([K1, K2]);
    await write('a2', 'red');
    await everywhere([K2, K1]);
    await write('b4', 'blue');
    await everywhere([K2]);
    await write('c2', 'blue');

    // Rotation 2 while process C is stopped (SIGSTOP): add K3, make it primary; C keeps K2.
    const c = procOf('c1');
    c.signal('SIGSTOP');
    try {
      await eventually(
        'the others notice C stopped',
        async () => stateOf(await members('a1'), 'c1') !== 'alive',
      );
      await everywhere([K2, K3], ['a', 'b']);
      await write('a3', 'red');
      await everywhere([K3, K2], ['a', 'b']);
      await write('b5', 'blue');
      await write('b1', 'red');
    } finally {
      c.signal('SIGCONT');
    }
    // C follows the new keys (as its agent would from the Store), then K2 goes everywhere.
    await everywhere([K3, K2], ['c']);
    await write('c4', 'blue');
    await everywhere([K3]);
    await write('a4', 'red');

    const rotated = (es: Entry[]): string[] =>
      es
        .filter((e) => e.key.startsWith('rot.'))
        .map((e) => e.key)
        .sort();
    const expectedRed = ['rot.1', 'rot.4', 'rot.6', 'rot.8'].sort();
    const expectedBlue = ['rot.2', 'rot.3', 'rot.5', 'rot.7'].sort();
    await eventually(
      'every rotation-time entry reached every member of its network, all 21 alive',
      async () => {
        for (const n of RED) if (rotated(await entries(n, 'red')).join() !== expectedRed.join()) return false;
        for (const n of BLUE)
          if (rotated(await entries(n, 'blue')).join() !== expectedBlue.join()) return false;
        return allSee(ALL, (ms) => ms.filter((m) => m.state === 'alive').length === 21);
      },
      120_000,
    );
  }, 300_000);
});
