import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startGossip } from '../../src/gossip/index.js';
import { KvkitProcess } from '../discovery/cli-process.js';
import { eventually } from './member-processes.js';

describe('kvkit gossip (real processes)', () => {
  it('runs a member, and lists members, networks and entries through any member with the keys', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-gossip-cli-'));
    const key = randomBytes(32);
    const keysFile = join(dir, 'keys');
    const wrongFile = join(dir, 'wrong');
    writeFileSync(keysFile, `# primary first\n${key.toString('base64')}\n`);
    writeFileSync(wrongFile, `${randomBytes(16).toString('hex')}\n`);
    const member = new KvkitProcess([
      'gossip',
      'run',
      '--name',
      'cli-1',
      '--bind',
      '127.0.0.1:0',
      '--network',
      'net',
      '--keys-file',
      keysFile,
    ]);
    let other: Awaited<ReturnType<typeof startGossip>> | null = null;
    try {
      const line = await member.line(/^gossip member cli-1 on /, 60_000);
      const addr = line.replace(/^gossip member cli-1 on /, '');
      other = await startGossip({ name: 'cli-2', bind: '127.0.0.1:0', join: [addr], keys: [key] });
      await other.joinNetwork('net');
      await other.setEntry('net', 'endpoint_table', 'web.1', new TextEncoder().encode('10.0.0.7'));

      const query = async (args: string[]): Promise<{ code: number | null; out: string; err: string }> => {
        const p = new KvkitProcess(['gossip', ...args, '--member', addr]);
        const { code } = await p.exited;
        return { code, out: p.stdout.join('\n'), err: p.stderr.join('\n') };
      };
      await eventually('cli-1 has the entry', async () => {
        const r = await query(['entries', 'net', '--keys-file', keysFile]);
        return r.code === 0 && /web\.1\s+cli-2\s+10\.0\.0\.7/.test(r.out);
      });
      const members = await query(['members', '--keys-file', keysFile]);
      expect(members.code).toBe(0);
      expect(members.out).toMatch(/cli-1 .*alive/);
      expect(members.out).toMatch(/cli-2 .*alive/);
      const networks = await query(['networks', '--keys-file', keysFile, '--json']);
      expect(JSON.parse(networks.out)).toEqual([
        expect.objectContaining({ network: 'net', joined: true, members: 2, entries: 1 }),
      ]);

      const refused = await query(['members', '--keys-file', wrongFile]);
      expect(refused.code).toBe(1);
      expect(refused.err).toMatch(/NOT_REACHABLE/);
      expect(refused.err).not.toContain(key.toString('base64'));
      await eventually('cli-1 reported the refused query', async () =>
        member.stderr.some((l) => /refused a stream/.test(l)),
      );

      // SIGTERM: the member leaves the cluster and exits cleanly.
      member.child.kill('SIGTERM');
      expect((await member.exited).code).toBe(0);
      await eventually(
        'cli-2 sees cli-1 left',
        async () => other?.members().find((m) => m.name === 'cli-1')?.state === 'left',
      );
    } finally {
      await other?.close();
      await member.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
