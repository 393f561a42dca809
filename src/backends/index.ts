import { registerBackend } from '../store/registry.js';

// Built-in backends, loaded on first use so a memory user never loads a gRPC client.
registerBackend('memory', async (o) => (await import('./memory/index.js')).openMemoryStore(o));
registerBackend('local', async (o) => (await import('./local/index.js')).openLocalStore(o));
registerBackend('etcd', async (o) => (await import('./etcd/index.js')).openEtcdStore(o));
registerBackend('consul', async (o) => (await import('./consul/index.js')).openConsulStore(o));
registerBackend('zk', async (o) => (await import('./zookeeper/index.js')).openZookeeperStore(o));
registerBackend('raft', async (o) => (await import('./raft/index.js')).openRaftClientStore(o));
