import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/backends/memory/index.js';
import { expectNoSecrets } from '../../src/conformance/secrets.js';
import {
  createStore,
  parseEndpoint,
  parseStoreUrl,
  registerBackend,
  registeredSchemes,
  type StoreOptions,
} from '../../src/index.js';

async function rejection(action: () => unknown): Promise<Error & { code?: string }> {
  try {
    await action();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('store URL schemes', () => {
  it('rejects an unknown scheme with BACKEND_NOT_SUPPORTED naming every available scheme', async () => {
    const err = await rejection(() => createStore('ftp://x:1'));
    expect(err.code).toBe('BACKEND_NOT_SUPPORTED');
    expect(err.message).toContain('"ftp"');
    for (const scheme of ['memory', 'local', 'etcd', 'consul', 'zk', 'zookeeper', 'raft']) {
      expect(registeredSchemes()).toContain(scheme);
      expect(err.message).toContain(scheme);
    }
  });

  it('opens zookeeper:// as the zk backend', () => {
    expect(parseStoreUrl('zookeeper://h:2181').backend).toBe('zk');
  });

  it('treats the scheme case-insensitively', () => {
    expect(parseStoreUrl('MEMORY://x')).toEqual({ backend: 'memory', endpoints: ['x'] });
  });

  describe('a backend added with registerBackend', () => {
    const opened: StoreOptions[] = [];
    registerBackend(
      'mydb',
      async (options) => {
        opened.push(options);
        return new MemoryStore({ prefix: options.prefix });
      },
      { aliases: ['mydbs'], params: ['flavour'] },
    );

    it('is opened by createStore from a mydb:// URL, hosts, path and its own parameters included', async () => {
      await using store = await createStore('mydb://u:p%40ss@h1:1,h2:2/some/dir?prefix=app&flavour=sweet');
      await store.put('k', 'v');
      expect(opened.at(-1)).toEqual({
        backend: 'mydb',
        endpoints: ['h1:1', 'h2:2'],
        path: '/some/dir',
        username: 'u',
        password: 'p@ss',
        prefix: 'app',
        params: { flavour: 'sweet' },
      });
    });

    it('is opened from its alias and from options naming it', async () => {
      await (await createStore('mydbs://h:1')).close();
      expect(opened.at(-1)?.backend).toBe('mydb');
      await (await createStore({ backend: 'mydb', endpoints: ['h:1'] })).close();
      expect(opened.at(-1)).toEqual({ backend: 'mydb', endpoints: ['h:1'] });
    });

    it('is listed among the schemes an unknown one is told about', async () => {
      expect((await rejection(() => createStore('nope://h'))).message).toContain('mydb');
    });

    it('refuses a name that cannot be a URL scheme', () => {
      expect(() => registerBackend('My DB', async () => new MemoryStore())).toThrow(/not a URL scheme/);
    });
  });
});

describe('store URL parts', () => {
  it('reads user:pass@ as username and password, percent-decoded', () => {
    expect(parseStoreUrl('etcd://root:p%3Ass@h:1')).toEqual({
      backend: 'etcd',
      endpoints: ['h:1'],
      username: 'root',
      password: 'p:ss',
    });
  });

  it('reads maxValueBytes and connectTimeoutMs as whole numbers', () => {
    expect(parseStoreUrl('memory:?maxValueBytes=2048&connectTimeoutMs=10')).toEqual({
      backend: 'memory',
      maxValueBytes: 2048,
      connectTimeoutMs: 10,
    });
  });

  it('rejects an unknown query parameter, naming it and the known ones', () => {
    expect(() => parseStoreUrl('etcd://h:1?conectTimeoutMs=5')).toThrow(
      /unknown query parameter "conectTimeoutMs" \(etcd takes prefix, .*connectTimeoutMs/,
    );
  });

  it('rejects a query parameter given twice', () => {
    expect(() => parseStoreUrl('etcd://h:1?prefix=a&prefix=b')).toThrow(/prefix given twice/);
  });

  it('rejects a path on a host-list backend and a host on local', () => {
    expect(() => parseStoreUrl('etcd://h:1/some/path')).toThrow(/takes no path/);
    expect(() => parseStoreUrl('local://host/dir')).toThrow(/absolute path/);
  });

  it('rejects a connectTimeoutMs a timer cannot honour (over 2^31-1 ms)', () => {
    expect(() => parseStoreUrl(`raft://h:1?connectTimeoutMs=${2 ** 31}`)).toThrow(/bad connectTimeoutMs/);
  });
});

describe('no secret in a parse error', () => {
  const secret = 'hunter2';
  // Every way parseStoreUrl / createStore / parseEndpoint can refuse, each carrying a secret.
  const badUrls = [
    `etcd://h:1?password=${secret}&connectTimeoutMs=x`,
    `etcd://h:1?token=${secret}&connectTimeoutMs=0`,
    `etcd://h:1?password=${secret}&maxValueBytes=-1`,
    `etcd://h:1?password=${secret}&bogus=1`,
    `etcd://h:1?password=${secret}&prefix=a&prefix=b`,
    `etcd://root:${secret}@h:1/path`,
    `etcd://root:${secret}@h:1?password=other`,
    `etcd://root:${secret}@`,
    `etcd://root:pa/${secret}@h:1`,
    `etcd://root:${secret}%zz@h:1`,
    `consul://${secret}@h:1,,h:2`,
    `local://root:${secret}@host/dir`,
    `local:///dir%zz?token=${secret}`,
    `memory://a:${secret}@name`,
    `ftp://root:${secret}@h:1`,
    `FTP:root:${secret}@h`,
    `root:${secret}@h:2379`,
    `1tcp://root:${secret}@h:1`,
  ];
  for (const url of badUrls) {
    it(`keeps the secret out of the error for ${url.replace(secret, 'SECRET')}`, async () => {
      const err = await rejection(() => createStore(url));
      expect(err.code === 'INVALID_ARGUMENT' || err.code === 'BACKEND_NOT_SUPPORTED').toBe(true);
      expectNoSecrets(err, [secret]);
      expectNoSecrets(await rejection(() => parseStoreUrl(url)), [secret]);
    });
  }

  it('keeps credentials out of an endpoint error', () => {
    for (const raw of [
      `root:${secret}@h:1`,
      `${secret}@h`,
      `etcd://root:${secret}@h:99999`,
      `u:${secret}@[::1`,
    ]) {
      let err: unknown;
      try {
        parseEndpoint(raw, 2379);
      } catch (e) {
        err = e;
      }
      expect((err as { code?: string }).code).toBe('INVALID_ARGUMENT');
      expectNoSecrets(err, [secret]);
    }
  });

  it('shows the URL it refuses, with the secret replaced by ***', async () => {
    const err = await rejection(() => createStore(`etcd://h:1?password=${secret}&connectTimeoutMs=x`));
    expect(err.message).toContain('etcd://h:1?password=***&connectTimeoutMs=x');
  });
});
