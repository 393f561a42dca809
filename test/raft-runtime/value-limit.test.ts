/**
 * A node's --max-value-bytes is what its stores declare: the embedded store (node.store and
 * openStore()) takes the node's limit, and raft:// takes ?maxValueBytes= (the client cannot see
 * the node's flag), so a value over it is VALUE_TOO_LARGE before anything is sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/backends/index.js';
import { createStore } from '../../src/store/create-store.js';
import { MAX_VALUE_BYTES } from '../../src/store/limits.js';
import { NodeCluster } from './raft-node-cluster.js';

const TWO_MIB = 2 * 1024 * 1024;
let cluster: NodeCluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

describe('a node started with maxValueBytes', () => {
  it('declares it on node.store and openStore(), takes a value over 1 MiB and refuses one byte more', async () => {
    cluster = await NodeCluster.start(1, { maxValueBytes: TWO_MIB });
    const leader = await cluster.leader();
    const opened = leader.openStore();
    try {
      for (const store of [leader.store, opened]) expect(store.capabilities.maxValueBytes).toBe(TWO_MIB);
      await leader.store.put('big', new Uint8Array(TWO_MIB).fill(7));
      expect((await opened.get('big')).value.byteLength).toBe(TWO_MIB);
      const err = await leader.store.put('bigger', new Uint8Array(TWO_MIB + 1)).catch((e) => e);
      expect(err.code).toBe('VALUE_TOO_LARGE');
      expect(await leader.store.exists('bigger')).toBe(false);
    } finally {
      await opened.close();
    }
  });

  it('is used by raft:// when the URL gives it, and the default (1 MiB) otherwise', async () => {
    cluster = await NodeCluster.start(1, { maxValueBytes: TWO_MIB });
    await cluster.leader();
    const plain = await createStore(cluster.clientUrl());
    const raised = await createStore(`${cluster.clientUrl()}?maxValueBytes=${TWO_MIB}`);
    try {
      expect(plain.capabilities.maxValueBytes).toBe(MAX_VALUE_BYTES);
      expect((await plain.put('k', new Uint8Array(MAX_VALUE_BYTES + 1)).catch((e) => e)).code).toBe(
        'VALUE_TOO_LARGE',
      );
      expect(raised.capabilities.maxValueBytes).toBe(TWO_MIB);
      await raised.put('k', new Uint8Array(TWO_MIB).fill(1));
      expect((await plain.get('k')).value.byteLength).toBe(TWO_MIB);
    } finally {
      await Promise.allSettled([plain.close(), raised.close()]);
    }
  });

  it('refuses a bad ?maxValueBytes= on raft:// with INVALID_ARGUMENT before connecting', async () => {
    const err = await createStore('raft://127.0.0.1:1?maxValueBytes=-4').catch((e) => e);
    expect(err.code).toBe('INVALID_ARGUMENT');
  });
});
