import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, registeredBackends, type Store } from '../../src/index.js';

/** A store the suite runs on, and how to get rid of it afterwards. */
export interface OpenedStore {
  store: Store;
  /** Another handle on the same data (another "process" in-process). */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface StoreFactory {
  name: string;
  open(): Promise<OpenedStore>;
}

let sharedSeq = 0;

const memory: StoreFactory = {
  name: 'memory',
  async open() {
    // A named memory store, so reopen() sees the same keys.
    const name = `network-state-${process.pid}-${++sharedSeq}`;
    const handles: Store[] = [await createStore(`memory://${name}`)];
    return {
      store: handles[0],
      reopen: async () => {
        const store = await createStore(`memory://${name}`);
        handles.push(store);
        return store;
      },
      cleanup: async () => {
        for (const h of handles) await h.close();
      },
    };
  },
};

const local: StoreFactory = {
  name: 'local',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'kvkit-netstate-'));
    const handles: Store[] = [await createStore(`local://${dir}`)];
    return {
      store: handles[0],
      reopen: async () => {
        const store = await createStore(`local://${dir}`);
        handles.push(store);
        return store;
      },
      cleanup: async () => {
        for (const h of handles) await h.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** memory always; local once its backend is registered. */
export const storeFactories: StoreFactory[] = [
  memory,
  ...(registeredBackends().includes('local') ? [local] : []),
];

export const localAvailable = registeredBackends().includes('local');
