/**
 * keyv's own test suite (`@keyv/test-suite`, unchanged) with KeyvKvkit over a real etcd server.
 */
import keyvTestSuite from '@keyv/test-suite';
import Keyv from 'keyv';
import * as Vitest from 'vitest';
import { beforeAll, describe } from 'vitest';
import { KeyvKvkit } from '../../src/keyv/index.js';
import type { Store } from '../../src/store/types.js';
import { useServer } from './server-fixture.js';
import { requireDocker } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('@keyv/test-suite on etcd', () => {
  const etcd = useServer('etcd', 'etcd');
  let store: Store;
  beforeAll(async () => {
    store = await etcd.open();
  }, 120_000);
  keyvTestSuite(Vitest, Keyv, () => new KeyvKvkit(store));
});
