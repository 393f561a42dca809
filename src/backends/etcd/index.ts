import type { Store, StoreOptions } from '../../store/types.js';
import { EtcdStore } from './etcd-store.js';

export { EtcdStore };

/** `etcd://host:port[,host:port]`: opens a store once a server answers within `connectTimeoutMs`. */
export async function openEtcdStore(options: StoreOptions): Promise<Store> {
  const store = new EtcdStore(options);
  try {
    await store.connect();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
