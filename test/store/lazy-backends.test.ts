import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const child = join(import.meta.dirname, 'lazy-backends-child.ts');
const CLIENTS = [
  'etcd3',
  '@grpc/grpc-js',
  'consul',
  'node-zookeeper-client',
  'redis',
  '@redis/client',
  'lmdb',
];

/** The npm packages a fresh process loads to open `url` and write one key. */
async function packagesLoadedFor(url: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, url], {
    timeout: 90_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '[]') as string[];
}

describe('built-in backends load on first use', () => {
  it('opens a memory store without loading any backend client (etcd, Consul, ZooKeeper, Redis, LMDB)', async () => {
    const loaded = await packagesLoadedFor('memory:');
    expect(loaded.filter((p) => CLIENTS.includes(p))).toEqual([]);
  }, 120_000);

  it('opens a local store loading LMDB and no network client', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-lazy-'));
    try {
      const loaded = await packagesLoadedFor(`local://${dir}`);
      expect(loaded).toContain('lmdb');
      expect(loaded.filter((p) => CLIENTS.includes(p) && p !== 'lmdb')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
