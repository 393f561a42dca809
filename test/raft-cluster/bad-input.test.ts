import { statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../raft-runtime/support.js';
import { ProcessCluster } from './processes.js';

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
    const size = statSync(join(n1.dataDir, 'raft.mdb')).size;

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
    expect(statSync(join(n1.dataDir, 'raft.mdb')).size).toBe(size);
    await cluster.restart('n1');
    const again = await cluster.client(['n1']);
    expect((await again.list('keep')).length).toBe(300);
    await again.close();
    expect(await cluster.stop('n1')).toBe(0);

    // A truncated log file: refused before LMDB maps it (which would crash on SIGBUS).
    const file = join(n1.dataDir, 'raft.mdb');
    const full = statSync(file).size;
    truncateSync(file, Math.floor(full / 2));
    const truncated = await failingStart(cluster, 'n1', ['--initial-cluster', cluster.initialCluster]);
    expect(truncated.code).toBe(1);
    expect(truncated.err).toMatch(/LOG_CORRUPT: .*raft\.mdb is truncated/);
    expect(statSync(file).size).toBe(Math.floor(full / 2));
  }, 600_000);
});
