import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/backends/index.js';
import type { CliContext } from '../../src/cli/context.js';
import { UsageError } from '../../src/cli/kv.js';
import { run } from '../../src/cli/raft.js';
import { onFreeLoopbackPorts } from '../../src/raft-node/local-cluster.js';
import { createStore } from '../../src/store/create-store.js';
import { tempDir, waitFor } from './support.js';

function context(storeUrl: string, signal = new AbortController().signal) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    openStore: () => createStore(storeUrl),
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    signal,
  };
  return { ctx, out, err };
}

const dirs: { remove: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

describe('kvkit raft', () => {
  it('certs writes a CA and a certificate per node (keys private), and refuses to overwrite', async () => {
    const dir = tempDir('kvkit-certs-');
    dirs.push(dir);
    const { ctx, out } = context('memory:');
    expect(await run(['certs', '--out', dir.path, '--nodes', 'n1,n2,n3'], ctx)).toBe(0);
    for (const f of ['ca.crt', 'ca.key', 'n1.crt', 'n1.key', 'n3.key', 'client.crt', 'client.key']) {
      expect(existsSync(join(dir.path, f)), f).toBe(true);
    }
    expect(statSync(join(dir.path, 'n1.key')).mode & 0o077).toBe(0);
    expect(out.join('\n')).toMatch(/wrote 10 files/);
    await expect(run(['certs', '--out', dir.path, '--nodes', 'n1'], ctx)).rejects.toThrow(
      /refusing to overwrite/,
    );
  });

  it('start runs a node until the signal aborts; status, members and remove go through raft://', async () => {
    const dir = tempDir('kvkit-cli-node-');
    dirs.push(dir);
    const stop = new AbortController();
    let running: Promise<number> | undefined;
    try {
      // A port another process took first makes `start` fail with ADDRESS_IN_USE: new ports then.
      const { node, peer, client } = await onFreeLoopbackPorts(2, async ([peer, client]) => {
        const node = context('memory:', stop.signal);
        let ended = false;
        const attempt = run(
          [
            'start',
            '--id',
            'n1',
            '--data-dir',
            join(dir.path, `attempt-${peer}`), // a retry never meets a member list of other ports
            '--peer-addr',
            `127.0.0.1:${peer}`,
            '--client-addr',
            `127.0.0.1:${client}`,
            '--initial-cluster',
            `n1=127.0.0.1:${peer}`,
            '--tick-ms',
            '20',
          ],
          node.ctx,
        ).finally(() => {
          ended = true;
        });
        running = attempt;
        // 'became leader' can be logged before `start` prints its "started" line: wait for both.
        const started = `[n1] started: peer 127.0.0.1:${peer}, client 127.0.0.1:${client}`;
        await waitFor(
          () => ended || (node.err.includes(started) && node.err.some((l) => l.includes('became leader'))),
          'started and leadership',
          60_000,
        );
        if (ended) await attempt; // throws why it ended (a port in use is retried)
        return { node, peer, client };
      });
      expect(node.err).toContain(`[n1] started: peer 127.0.0.1:${peer}, client 127.0.0.1:${client}`);

      const url = `raft://127.0.0.1:${client}`;
      const status = context(url);
      expect(await run(['status'], status.ctx)).toBe(0);
      expect(status.out.join('\n')).toMatch(/role\s+leader/);
      const members = context(url);
      expect(await run(['members', '--json', '--store', url], members.ctx)).toBe(0);
      expect(
        (JSON.parse(members.out[0]) as { id: string; peerAddr: string; voter: boolean }[]).map((m) => [
          m.id,
          m.peerAddr,
          m.voter,
        ]),
      ).toEqual([['n1', `127.0.0.1:${peer}`, true]]);
      const remove = context(url);
      expect(await run(['remove', 'ghost'], remove.ctx)).toBe(0);

      stop.abort();
      expect(await running).toBe(0);
      expect(node.err.at(-1)).toBe('[n1] stopped');
    } finally {
      // However the test ends, the node is stopped before its data dir is removed.
      stop.abort();
      await running?.catch(() => {});
    }
  });

  it('rejects bad usage', async () => {
    const { ctx } = context('memory:');
    await expect(run(['nope'], ctx)).rejects.toBeInstanceOf(UsageError);
    await expect(run(['start', '--id', 'n1'], ctx)).rejects.toBeInstanceOf(UsageError);
    await expect(run(['status'], ctx)).rejects.toThrow(/needs a raft:\/\/ store/);
  });
});
