import { registerBackend } from '../store/registry.js';

// Built-in backends, loaded on first use so a memory user never loads a gRPC client.
// The third argument says what the backend's URLs hold (see BackendRegistration).
registerBackend('memory', async (o) => (await import('./memory/index.js')).openMemoryStore(o), {
  url: 'name',
});
registerBackend('local', async (o) => (await import('./local/index.js')).openLocalStore(o), { url: 'path' });
registerBackend('etcd', async (o) => (await import('./etcd/index.js')).openEtcdStore(o), {
  url: 'hosts',
  params: ['maxRequestBytes'],
});
registerBackend('consul', async (o) => (await import('./consul/index.js')).openConsulStore(o), {
  url: 'hosts',
});
registerBackend('zk', async (o) => (await import('./zookeeper/index.js')).openZookeeperStore(o), {
  url: 'hosts',
  aliases: ['zookeeper'],
  params: ['juteMaxBuffer'],
});
registerBackend('raft', async (o) => (await import('./raft/index.js')).openRaftClientStore(o), {
  url: 'hosts',
  params: ['tlsDir', 'tlsName'],
});
// redis:// and rediss:// (TLS): one loader, the scheme tells TLS apart.
for (const scheme of ['redis', 'rediss']) {
  registerBackend(scheme, async (o) => (await import('./redis/index.js')).openRedisStore(o), {
    url: 'hosts',
  });
}
