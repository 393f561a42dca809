import type { Store, StoreOptions } from '../../store/types.js';
import { ZookeeperStore } from './zookeeper-store.js';

export { ZookeeperStore };

/** `zk://host:port[,host:port]`: a ZooKeeper ensemble (node-zookeeper-client). */
export async function openZookeeperStore(options: StoreOptions): Promise<Store> {
  return ZookeeperStore.open(options);
}
