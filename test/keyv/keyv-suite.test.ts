/**
 * keyv's own test suite (`@keyv/test-suite`, run unchanged from the npm package) with KeyvKvkit
 * as the store, on the memory, local and raft backends (etcd: test/integration/keyv-etcd.test.ts).
 * The suite asks its factory for a new adapter many times per test; each is a KeyvKvkit over the
 * one Store of the describe block, as an application sharing one Store would do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import keyvTestSuite from '@keyv/test-suite';
import Keyv from 'keyv';
import * as Vitest from 'vitest';
import { afterAll, beforeAll, describe } from 'vitest';
import { KeyvKvkit } from '../../src/keyv/index.js';
import { type LocalCluster, startLocalCluster } from '../../src/raft-node/local-cluster.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/types.js';

describe('@keyv/test-suite on memory:', () => {
  let store: Store;
  beforeAll(async () => {
    store = await createStore('memory:');
  });
  afterAll(() => store.close());
  keyvTestSuite(Vitest, Keyv, () => new KeyvKvkit(store));
});

describe('@keyv/test-suite on local://', () => {
  let store: Store;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kvkit-keyv-'));
    store = await createStore(`local://${dir}`);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  keyvTestSuite(Vitest, Keyv, () => new KeyvKvkit(store));
});

describe('@keyv/test-suite on a 3-node raft cluster', () => {
  let cluster: LocalCluster;
  let dir: string;
  let store: Store;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kvkit-keyv-raft-'));
    cluster = await startLocalCluster({ size: 3, dataDir: dir });
    store = (await cluster.leader()).openStore();
  });
  afterAll(async () => {
    await store?.close();
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  keyvTestSuite(Vitest, Keyv, () => new KeyvKvkit(store));
});
