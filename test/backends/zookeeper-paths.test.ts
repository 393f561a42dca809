import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ancestors,
  dirToPath,
  keyToPath,
  lockQueuePath,
  parentPath,
  pathToKey,
} from '../../src/backends/zookeeper/paths.js';
import { ownerOf, zxidToNumber } from '../../src/backends/zookeeper/stat.js';
import type { ZkStat } from '../../src/backends/zookeeper/zk-client.js';
import { isUnder, normalizeKey, normalizePrefix } from '../../src/store/keys.js';

/** ZooKeeper's own path validation (PathUtils.validatePath), restated to check our output against. */
function zookeeperAccepts(path: string): boolean {
  if (path[0] !== '/' || (path.length > 1 && path.endsWith('/'))) return false;
  for (const name of path.slice(1).split('/')) {
    if (name === '' || name === '.' || name === '..') return false;
  }
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0 || c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0)
      return false;
  }
  return true;
}

const keyChars = fc.constantFrom(
  'a',
  'b',
  '/',
  '.',
  '%',
  ' ',
  'é',
  '\u0001',
  '\u0085',
  '\ud83d',
  '\ude00',
  '\ue000',
  '\uffff',
);
const keys = fc
  .array(keyChars, { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(''))
  .filter((k) => {
    try {
      normalizeKey(k);
      return true;
    } catch {
      return false;
    }
  })
  .map(normalizeKey);

describe('zookeeper key ↔ znode path mapping', () => {
  it('maps a plain key to the znode of the same path', () => {
    expect(keyToPath('a/b')).toBe('/a/b');
    expect(pathToKey('/a/b')).toBe('a/b');
  });

  it('stores a trailing-slash key as a child named %, apart from the key without it', () => {
    expect(keyToPath('a/b/')).toBe('/a/b/%');
    expect(pathToKey('/a/b/%')).toBe('a/b/');
    expect(keyToPath('a//b')).toBe('/a/%/b');
  });

  it('escapes relative names, the escape character and ZooKeeper’s own subtree', () => {
    expect(keyToPath('./..')).toBe('/%2E/%2E%2E');
    expect(keyToPath('100%')).toBe('/100%25');
    expect(keyToPath('zookeeper/x')).toBe('/%7Aookeeper/x');
    expect(keyToPath('x/zookeeper')).toBe('/x/zookeeper');
    expect(keyToPath('a\u0001😀')).toBe('/a%01%uD83D%uDE00');
  });

  it('round-trips every key through a path ZooKeeper accepts', () => {
    fc.assert(
      fc.property(keys, (key) => {
        const path = keyToPath(key);
        expect(zookeeperAccepts(path)).toBe(true);
        expect(pathToKey(path)).toBe(key);
      }),
    );
  });

  it('gives distinct keys distinct znodes', () => {
    fc.assert(
      fc.property(keys, keys, (a, b) => {
        if (a !== b) expect(keyToPath(a)).not.toBe(keyToPath(b));
      }),
    );
  });

  it('places exactly the keys under a directory prefix beneath its znode', () => {
    fc.assert(
      fc.property(keys, keys, (key, prefix) => {
        const dir = normalizePrefix(prefix);
        const root = dirToPath(dir);
        const path = keyToPath(key);
        const beneath = root === '/' || path.startsWith(`${root}/`);
        expect(beneath).toBe(isUnder(key, dir));
      }),
    );
  });

  it('treats names kvkit never writes as no key', () => {
    expect(pathToKey('/zookeeper')).toBeNull();
    expect(pathToKey('/zookeeper/quota')).toBeNull();
    expect(pathToKey(lockQueuePath('/a/b'))).toBeNull();
    expect(pathToKey('/a/%zz')).toBeNull();
    expect(pathToKey('/a/%41')).toBeNull(); // not canonical: 'A' is written as A
    expect(pathToKey('/a/%2e')).toBeNull();
  });

  it('walks parents and ancestors', () => {
    expect(parentPath('/a/b/c')).toBe('/a/b');
    expect(parentPath('/a')).toBe('/');
    expect(ancestors('/a/b/c')).toEqual(['/a', '/a/b']);
    expect(ancestors('/a')).toEqual([]);
    expect(dirToPath('')).toBe('/');
    expect(dirToPath('a/b/')).toBe('/a/b');
  });
});

describe('zookeeper stat fields', () => {
  const zxid = (epoch: number, counter: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(epoch, 0);
    b.writeUInt32BE(counter, 4);
    return b;
  };

  it('reads a 64-bit zxid as an exact number while it fits', () => {
    expect(zxidToNumber(zxid(0, 7))).toBe(7);
    expect(zxidToNumber(zxid(3, 0xffffffff))).toBe(3 * 2 ** 32 + 0xffffffff);
    expect(zxidToNumber(zxid(2 ** 21 - 1, 0xffffffff))).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses a zxid beyond 2^53 rather than round it', () => {
    expect(() => zxidToNumber(zxid(2 ** 21, 0))).toThrow(/does not fit/);
  });

  it('orders zxids of a later epoch after every zxid of an earlier one', () => {
    expect(zxidToNumber(zxid(2, 0))).toBeGreaterThan(zxidToNumber(zxid(1, 0xffffffff)));
  });

  it('tells ephemeral from persistent znodes by their owner', () => {
    const stat = (owner: Buffer) => ({ ephemeralOwner: owner }) as ZkStat;
    expect(ownerOf(stat(Buffer.alloc(8)))).toBe('');
    expect(ownerOf(stat(Buffer.from('0100000abc000001', 'hex')))).toBe('0100000abc000001');
  });
});
