import { InvalidArgumentError } from './errors.js';
import { backendFactory } from './registry.js';
import type { BackendName, Store, StoreOptions } from './types.js';

const schemes: Record<string, BackendName> = {
  memory: 'memory',
  local: 'local',
  etcd: 'etcd',
  consul: 'consul',
  zk: 'zk',
  zookeeper: 'zk',
  raft: 'raft',
};

/**
 * Opens a store from a URL or options:
 * `memory:` (private), `memory://NAME` (shared in-process), `local:///abs/dir`,
 * `etcd://host:port[,host:port]`, `consul://host:port`, `zk://host:port`, `raft://host:port,...`.
 * URL query parameters: `prefix`, `token`, `username`, `password`, `connectTimeoutMs`.
 */
export async function createStore(target: string | StoreOptions): Promise<Store> {
  const options = typeof target === 'string' ? parseStoreUrl(target) : { ...target };
  if (!options || typeof options !== 'object' || typeof options.backend !== 'string') {
    throw new InvalidArgumentError('createStore needs a URL or options with a backend');
  }
  return backendFactory(options.backend)(options);
}

/** Parses a store URL into options; throws INVALID_ARGUMENT naming the URL when malformed. */
export function parseStoreUrl(url: string): StoreOptions {
  const match = /^([a-z]+):(.*)$/.exec(url);
  if (!match) throw new InvalidArgumentError(`not a store URL: ${JSON.stringify(url)}`);
  const [, scheme, rest] = match;
  const backend = schemes[scheme];
  if (!backend) throw new InvalidArgumentError(`unknown store scheme ${JSON.stringify(scheme)} in ${url}`);
  const [body, query = ''] = rest.split('?', 2);
  const params = new URLSearchParams(query);
  const options: StoreOptions = { backend };
  if (backend === 'local') {
    const path = body.replace(/^\/\//, '');
    if (!path.startsWith('/')) throw new InvalidArgumentError(`local store needs an absolute path: ${url}`);
    options.path = decodeURIComponent(path);
  } else {
    const authority = body.replace(/^\/\//, '').replace(/\/$/, '');
    if (authority !== '') options.endpoints = authority.split(',').map((e) => e.trim());
    if (backend !== 'memory' && !options.endpoints) {
      throw new InvalidArgumentError(`${backend} store URL needs host:port: ${url}`);
    }
  }
  const prefix = params.get('prefix');
  if (prefix !== null) options.prefix = prefix;
  for (const name of ['token', 'username', 'password'] as const) {
    const value = params.get(name);
    if (value !== null) options[name] = value;
  }
  const timeout = params.get('connectTimeoutMs');
  if (timeout !== null) {
    const ms = Number(timeout);
    if (!Number.isFinite(ms) || ms <= 0) throw new InvalidArgumentError(`bad connectTimeoutMs in ${url}`);
    options.connectTimeoutMs = ms;
  }
  return options;
}
