import { readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeKvRequest, RawClient } from '../raft-node/raw-client.js';
import { eventually, freePorts } from '../raft-runtime/support.js';
import { ProcessCluster } from './processes.js';

/** The first segment of a node's write-ahead log. */
function firstSegment(dataDir: string): string {
  const name = readdirSync(dataDir)
    .filter((n) => n.endsWith('.wal'))
    .sort()[0];
  return join(dataDir, name);
}

/** Starts a node process that must fail; returns its exit code and stderr. */
async function failingStart(
  c: ProcessCluster,
  id: string,
  args: string[],
): Promise<{ code: number | null; err: string }> {
  const proc = await c.spawn(id, args, false);
  const { code } = await proc.exited;
  return { code, err: proc.lines.join('\n') };
}

describe('a node process refuses bad input at start, with a clear error and nothing overwritten', () => {
  let c: ProcessCluster | null = null;
  afterAll(async () => {
    await c?.close();
  }, 60_000);

  it('data dir from another cluster, wrong peer list, port in use, truncated log', async () => {
    c = await ProcessCluster.start(1);
    const cluster = c;
    const n1 = cluster.specs.get('n1');
    if (!n1) throw new Error('no n1');
    await cluster.leader();
    const client = await cluster.client(['n1']);
    for (let i = 0; i < 300; i++) await client.put(`keep/${i}`, 'x'.repeat(200));
    await client.close();

    // Port in use: a second node on n1's peer address.
    await cluster.allocate(['x']);
    const x = cluster.specs.get('x');
    if (!x) throw new Error('no x');
    x.peerAddr = n1.peerAddr;
    const inUse = await failingStart(cluster, 'x', ['--initial-cluster', `x=${n1.peerAddr}`]);
    expect(inUse.code).toBe(1);
    expect(inUse.err).toMatch(/ADDRESS_IN_USE: peer address 127\.0\.0\.1:\d+ is already in use/);

    expect(await cluster.stop('n1')).toBe(0);
    const segment = firstSegment(n1.dataDir);
    const size = statSync(segment).size;

    // A data dir from another cluster (the member list differs).
    const [other] = await freePorts(1);
    const foreign = await failingStart(cluster, 'n1', [
      '--initial-cluster',
      `n1=${n1.peerAddr},n2=127.0.0.1:${other}`,
    ]);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toMatch(
      /CLUSTER_MISMATCH: data dir .* belongs to cluster [0-9a-f]+ \(n1=127\.0\.0\.1:\d+\)/,
    );

    // A wrong peer list for a new data dir: this node is not in it.
    const [p2] = await freePorts(1);
    cluster.specs.set('y', {
      ...x,
      id: 'y',
      peerAddr: `127.0.0.1:${p2}`,
      dataDir: join(cluster.dir.path, 'y'),
    });
    const notListed = await failingStart(cluster, 'y', ['--initial-cluster', `n1=${n1.peerAddr}`]);
    expect(notListed.code).toBe(1);
    expect(notListed.err).toMatch(/CLUSTER_MISMATCH: node y is not in the initial cluster/);

    // Nothing was overwritten: n1 restarts with its data.
    expect(statSync(segment).size).toBe(size);
    await cluster.restart('n1');
    const again = await cluster.client(['n1']);
    expect((await again.list('keep')).length).toBe(300);
    await again.close();
    expect(await cluster.stop('n1')).toBe(0);

    // A truncated log segment: refused with what is wrong, the file left as it is.
    const file = firstSegment(n1.dataDir);
    const full = statSync(file).size;
    truncateSync(file, Math.floor(full / 2));
    const truncated = await failingStart(cluster, 'n1', ['--initial-cluster', cluster.initialCluster]);
    expect(truncated.code).toBe(1);
    expect(truncated.err).toMatch(/LOG_CORRUPT: .*\.wal: segment is truncated/);
    expect(statSync(file).size).toBe(Math.floor(full / 2));
  }, 600_000);
});

describe("a node process's client port checks every request before anything is proposed", () => {
  let c: ProcessCluster | null = null;
  afterAll(async () => {
    await c?.close();
  }, 60_000);

  it('answers the old report’s bad inputs with typed errors, drops garbage, commits none of it', async () => {
    c = await ProcessCluster.start(3);
    const cluster = c;
    await cluster.leader();
    const good = await cluster.client();
    await good.put('before', 'x');
    // Quiet: every node's client address is in the book (no announcement left to commit).
    await eventually(async () => {
      const members = await good.cluster.members();
      if (members.some((m) => m.clientAddr === null)) throw new Error('announcements pending');
    }, 'client addresses replicated');
    const before = await good.cluster.status();
    const leaderAddr = cluster.specs.get(before.leader as string)?.clientAddr as string;

    const submit = (cmd: Record<string, unknown>, seq: number) => ({
      op: 'submit',
      timeoutMs: 2000,
      request: encodeKvRequest({ client: 'hostile', seq, cmd }),
    });
    const value = new Uint8Array([1, 2, 3]);
    const raw = await RawClient.connect(leaderAddr);
    const answers: Record<string, unknown> = {};
    try {
      const bad: [string, Record<string, unknown>][] = [
        ['empty key', submit({ op: 'put', key: '', value }, 1)],
        ['NUL key', submit({ op: 'put', key: 'a\0b', value }, 2)],
        ['10,000-character key', submit({ op: 'put', key: 'k'.repeat(10_000), value }, 3)],
        ['negative TTL', submit({ op: 'put', key: 'ttl', value, ttlMs: -1000 }, 4)],
        ['unknown command', submit({ op: 'explode', key: 'k' }, 5)],
        ['unknown operation', { op: 'explode' }],
      ];
      for (const [what, body] of bad) {
        const reply = await raw.request(body);
        answers[what] = reply.code;
        expect(reply.ok, what).toBe(false);
      }
    } finally {
      raw.close();
    }
    expect(answers).toEqual({
      'empty key': 'INVALID_KEY',
      'NUL key': 'INVALID_KEY',
      '10,000-character key': 'INVALID_KEY',
      'negative TTL': 'INVALID_ARGUMENT',
      'unknown command': 'INVALID_ARGUMENT',
      'unknown operation': 'INVALID_ARGUMENT',
    });
    const garbage = await RawClient.connect(leaderAddr);
    garbage.raw(Buffer.from('\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1 and then some raw garbage'));
    expect(await garbage.closedWithin(10_000)).toBe(true);

    // Nothing was proposed: the commit index did not move; the node serves on.
    const after = await good.cluster.status();
    expect(after.term).toBe(before.term);
    expect(after.commitIndex).toBe(before.commitIndex);
    await good.put('after', 'y');
    expect((await good.list('')).map((p) => p.key)).toEqual(['after', 'before']);
    await good.close();
    for (const proc of cluster.procs.values()) {
      expect(proc.lines.filter((l) => /failed to apply/.test(l))).toEqual([]);
    }
  }, 300_000);
});
