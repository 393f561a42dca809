import { describe, expect, it } from 'vitest';
import {
  BackendNotSupportedError,
  createStore,
  InvalidArgumentError,
  KeyNotFoundError,
  KVError,
  parseStoreUrl,
  registeredBackends,
  text,
} from '../../src/index.js';

describe('createStore', () => {
  it('parses every documented URL form into options', () => {
    expect(parseStoreUrl('memory:')).toEqual({ backend: 'memory' });
    expect(parseStoreUrl('memory://shared')).toEqual({ backend: 'memory', endpoints: ['shared'] });
    expect(parseStoreUrl('local:///var/lib/kv')).toEqual({ backend: 'local', path: '/var/lib/kv' });
    expect(parseStoreUrl('etcd://10.0.0.1:2379,10.0.0.2:2379')).toEqual({
      backend: 'etcd',
      endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'],
    });
    expect(parseStoreUrl('consul://127.0.0.1:8500?token=t&prefix=app')).toEqual({
      backend: 'consul',
      endpoints: ['127.0.0.1:8500'],
      token: 't',
      prefix: 'app',
    });
    expect(parseStoreUrl('zk://h:2181')).toEqual({ backend: 'zk', endpoints: ['h:2181'] });
    expect(parseStoreUrl('raft://a:1,b:2?connectTimeoutMs=900')).toEqual({
      backend: 'raft',
      endpoints: ['a:1', 'b:2'],
      connectTimeoutMs: 900,
    });
  });

  it('rejects malformed URLs with INVALID_ARGUMENT naming the URL', () => {
    for (const url of ['nonsense', 'local://relative/dir', 'etcd://', 'raft://a:1?connectTimeoutMs=-1']) {
      const attempt = () => parseStoreUrl(url);
      expect(attempt).toThrow(InvalidArgumentError);
      expect(attempt).toThrow(url.split('?')[0].slice(0, 8));
    }
  });

  it('rejects a backend that is not available with BACKEND_NOT_SUPPORTED naming the available ones', async () => {
    const err = await createStore({ backend: 'nope' as 'memory' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendNotSupportedError);
    expect(err.code).toBe('BACKEND_NOT_SUPPORTED');
    for (const name of registeredBackends()) expect(err.message).toContain(name);
    expect(registeredBackends()).toEqual(expect.arrayContaining(['memory', 'local']));
  });

  it('keeps stores with different prefixes apart on one shared memory store', async () => {
    await using a = await createStore('memory://prefixes?prefix=tenant-a');
    await using b = await createStore('memory://prefixes?prefix=tenant-b');
    await using all = await createStore('memory://prefixes');
    await a.put('config', 'A');
    await b.put('config', 'B');
    expect(text(await a.get('config'))).toBe('A');
    expect((await a.get('config')).key).toBe('config');
    expect((await a.list('')).map((p) => p.key)).toEqual(['config']);
    expect((await all.list('')).map((p) => p.key)).toEqual(['tenant-a/config', 'tenant-b/config']);
  });

  it('opens private memory stores that share nothing', async () => {
    await using a = await createStore('memory:');
    await using b = await createStore('memory:');
    await a.put('k', 'v');
    expect(await b.exists('k')).toBe(false);
  });
});

describe('errors', () => {
  it('carry a stable code, their class name and the underlying cause', () => {
    const cause = new Error('socket hang up');
    const err = new KeyNotFoundError('a/b', { cause });
    expect(err).toBeInstanceOf(KVError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('KEY_NOT_FOUND');
    expect(err.name).toBe('KeyNotFoundError');
    expect(err.cause).toBe(cause);
    expect(err.message).toContain('a/b');
  });
});
