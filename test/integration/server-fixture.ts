import { afterAll, beforeAll } from 'vitest';
import { delay, text } from '../../src/conformance/helpers.js';
import { type BackendName, createStore, type KVPair, type Store } from '../../src/index.js';
import { type RunningServer, type ServerKind, startServer } from './servers.js';

/**
 * One real server for a test file, started before its tests and removed after, with the
 * stores its tests open on it (closed at the end). Call it at the top of a `describe`.
 */
export function useServer(kind: ServerKind, backend: BackendName) {
  let server: RunningServer | undefined;
  const stores: Store[] = [];

  beforeAll(async () => {
    server = await startServer(kind);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server?.close();
  }, 60_000);

  const running = (): RunningServer => {
    if (!server) throw new Error(`${kind} server is not running`);
    return server;
  };
  return {
    server: running,
    /** A store on the server, closed when the file ends. */
    async open(connectTimeoutMs = 5000): Promise<Store> {
      const store = await createStore({ backend, endpoints: [running().endpoint], connectTimeoutMs });
      stores.push(store);
      return store;
    },
  };
}

/** `key=value` lines of a list, for readable expectations. */
export function entriesOf(list: KVPair[]): string[] {
  return list.map((p) => `${p.key}=${text(p)}`);
}

/** Writes, retrying while the server is still coming back (it answers NOT_REACHABLE until then). */
export async function eventuallyPut(store: Store, key: string, value: string, attempts = 40): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await store.put(key, value);
    } catch (err) {
      if (attempt > attempts) throw err;
      await delay(250);
    }
  }
}
