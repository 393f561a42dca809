import { afterAll, describe, expect, it } from 'vitest';
import { checkLinearizability } from '../../src/testing/index.js';
import { ProcessCluster } from './processes.js';
import { RegisterWorkload } from './workload.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const report = (line: string) => process.stdout.write(`[raft-cluster] ${line}\n`);

describe('membership of node processes under load', () => {
  let cluster: ProcessCluster | null = null;
  afterAll(async () => {
    await cluster?.close();
  }, 60_000);

  it('grows 3→5 by joining learners and shrinks 5→3 (leader included) while clients write, losing nothing', async () => {
    const c = await ProcessCluster.start(3);
    cluster = c;
    await c.allocate(['n4', 'n5']);
    await c.leader();
    // Clients know every address up front (n4/n5 come later), as a client of a growing cluster would.
    const stores = await Promise.all(
      [
        ['n1', 'n2', 'n3', 'n4', 'n5'],
        ['n2', 'n3', 'n1', 'n4', 'n5'],
        ['n3', 'n1', 'n2', 'n4', 'n5'],
        ['n4', 'n5', 'n1', 'n2', 'n3'],
      ].map((ids) => c.client(ids)),
    );
    const workload = new RegisterWorkload(stores, ['m/a', 'm/b', 'm/c'], 'm-ack', 5);
    const steps: string[] = [];
    try {
      await sleep(1000);
      for (const id of ['n4', 'n5']) {
        await c.spawn(id, ['--join', c.clientAddrs(['n1', 'n2', 'n3']).join(',')]);
        await waitMembers(c, (ms) => ms.some((m) => m.id === id && m.voter));
        steps.push(`${id} joined and was promoted`);
      }
      const leader = await c.leader();
      // Remove the leader and one follower of the original three; the rest carry on.
      const removed = [leader, ['n1', 'n2', 'n3'].find((id) => id !== leader) as string];
      const admin = await c.client(['n4', 'n5']);
      for (const id of removed) {
        await admin.cluster.removeMember(id);
        steps.push(`removed ${id}${id === leader ? ' (the leader)' : ''}`);
        await c.stop(id);
      }
      const members = await waitMembers(c, (ms) => ms.length === 3);
      expect(members.map((m) => m.id).sort()).toEqual(
        ['n1', 'n2', 'n3', 'n4', 'n5'].filter((id) => !removed.includes(id)),
      );
      expect(members.every((m) => m.voter)).toBe(true);
      await sleep(1000);
      // Enough acknowledged writes to judge, however slow the machine (a generous deadline).
      const deadline = Date.now() + 240_000;
      while (workload.stats.acked.length <= 50 && Date.now() < deadline) await sleep(250);
    } finally {
      await workload.stop();
    }
    const { history, stats } = workload;
    expect(checkLinearizability(history, { timeoutMs: 120_000 })).toEqual({ ok: true });
    const check = await c.client(['n3', 'n4', 'n5']);
    const present = new Set((await check.list('m-ack')).map((p) => p.key));
    expect(stats.acked.filter((k) => !present.has(k))).toEqual([]);
    expect(stats.acked.length).toBeGreaterThan(50);
    report(`membership: ${steps.join('; ')}`);
    report(
      `membership under load: ${history.length} ops linearizable (${stats.indeterminate} indeterminate), ` +
        `${stats.acked.length} acknowledged appends, 0 lost`,
    );
  }, 600_000);
});

async function waitMembers(
  c: ProcessCluster,
  done: (members: { id: string; voter: boolean }[]) => boolean,
): Promise<{ id: string; voter: boolean }[]> {
  const deadline = Date.now() + 60_000;
  const live = () => [...c.procs.values()].filter((p) => p.alive).map((p) => p.spec.id);
  for (;;) {
    const client = await c.client(live(), 5000);
    try {
      const members = await client.cluster.members();
      if (done(members)) return members;
    } catch {
      // an election or a restart: ask again
    } finally {
      await client.close();
    }
    if (Date.now() > deadline) throw new Error('membership did not reach the expected state');
    await sleep(200);
  }
}
