import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/discovery.js';
import { eventually } from '../../src/conformance/helpers.js';
import { createStore, isKVError, openDiscovery, type Store } from '../../src/index.js';
import { NodeCluster } from '../raft-runtime/raft-node-cluster.js';
import { KvkitProcess } from './cli-process.js';

/** A deadline against hangs, never a verdict on speed. */
const WAIT_MS = 30_000;

/**
 * `kvkit discovery register` as a child process on `store`'s data, killed with SIGKILL: its key
 * is there while it runs and goes once its TTL passes (no clean leave).
 */
async function registeredThenKilled(kvkit: (...args: string[]) => KvkitProcess, store: Store) {
  // TTL 3 s: a child starved by the busy machine still refreshes before it would expire.
  const node = kvkit('discovery', 'register', '10.0.0.5:2375', '--heartbeat', '500ms', '--ttl', '3s');
  await node.line(/^registered 10\.0\.0\.5:2375$/);
  const disco = openDiscovery(store);
  expect(await disco.listNodes()).toEqual(['10.0.0.5:2375']);
  await node.kill('SIGKILL');
  expect(await eventually(async () => (await disco.listNodes()).length === 0, WAIT_MS)).toBe(true);
}

describe('kvkit discovery on a local:// store shared by processes', () => {
  let dir: string;
  let store: Store;
  const started: KvkitProcess[] = [];
  const kvkit = (...args: string[]) => {
    const p = new KvkitProcess([...args, '--store', `local://${dir}`]);
    started.push(p);
    return p;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kvkit-discovery-cli-'));
    store = await createStore(`local://${dir}`);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.kill()));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a registered process killed with SIGKILL disappears once its TTL passes', async () => {
    await registeredThenKilled(kvkit, store);
  });

  it('SIGTERM leaves cleanly: the key is gone when the process has exited', async () => {
    const node = kvkit('discovery', 'register', '10.0.0.6:2375', '--ttl', '10m');
    await node.line(/^registered /);
    await node.kill('SIGTERM');
    expect((await node.exited).code).toBe(0);
    expect(await openDiscovery(store).listNodes()).toEqual([]);
  });

  it('ls prints the addresses, and --watch the whole list after every change', async () => {
    await using disco = openDiscovery(store);
    await using _a = await disco.register('10.0.0.2:2375');
    const ls = kvkit('discovery', 'ls');
    expect((await ls.exited).code).toBe(0);
    expect(ls.stdout).toEqual(['10.0.0.2:2375']);
    const watch = kvkit('discovery', 'ls', '--watch');
    await watch.line(/^10\.0\.0\.2:2375$/);
    const b = await disco.register('10.0.0.1:2375');
    await eventually(async () => watch.stdout.includes('--- 2 nodes'), WAIT_MS);
    await b.close();
    await eventually(async () => watch.stdout.filter((l) => l === '--- 1 node').length === 2, WAIT_MS);
    await watch.kill('SIGINT');
    expect(watch.stdout).toEqual([
      '--- 1 node',
      '10.0.0.2:2375',
      '--- 2 nodes',
      '10.0.0.1:2375',
      '10.0.0.2:2375',
      '--- 1 node',
      '10.0.0.2:2375',
    ]);
  });

  it('a bad address or duration is INVALID_ARGUMENT naming it', async () => {
    const ctx = {
      openStore: () => createStore(`local://${dir}`),
      stdout: () => {},
      stderr: () => {},
      signal: new AbortController().signal,
    };
    const bad = await run(['register', '10.0.0.1', '--ttl', '1m'], ctx).catch((e) => e);
    expect(isKVError(bad, 'INVALID_ARGUMENT')).toBe(true);
    expect(bad.message).toContain('"10.0.0.1"');
    const dur = await run(['register', '10.0.0.1:1', '--ttl', '60'], ctx).catch((e) => e);
    expect(isKVError(dur, 'INVALID_ARGUMENT')).toBe(true);
    expect(dur.message).toMatch(/--ttl.*"60"/);
  });
});

describe('kvkit discovery on a raft:// cluster (3 nodes in this process)', () => {
  let cluster: NodeCluster;
  let store: Store;
  const started: KvkitProcess[] = [];
  const kvkit = (...args: string[]) => {
    const p = new KvkitProcess([...args, '--store', cluster.clientUrl()]);
    started.push(p);
    return p;
  };

  beforeAll(async () => {
    cluster = await NodeCluster.start(3);
    await cluster.leader();
    store = await createStore(cluster.clientUrl());
  });
  afterAll(async () => {
    await Promise.all(started.splice(0).map((p) => p.kill()));
    await store?.close();
    await cluster?.close();
  });

  it('a registered process killed with SIGKILL disappears once its TTL passes', async () => {
    await registeredThenKilled(kvkit, store);
  });
});
