import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { open } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, failure, text } from '../../src/conformance/helpers.js';
import { createStore, type Store } from '../../src/index.js';

let base: string;
const stores: Store[] = [];

async function openLocal(dir: string): Promise<Store> {
  const store = await createStore(`local://${dir}`);
  stores.push(store);
  return store;
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'kvkit-local-files-'));
});

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  rmSync(base, { recursive: true, force: true });
});

describe('local store files', () => {
  it('creates its data directories 0700 and its files 0600', async () => {
    const dir = join(base, 'new', 'data');
    await openLocal(dir);
    expect(statSync(join(base, 'new')).mode & 0o777).toBe(0o700);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'kvkit.mdb')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'kvkit.mdb-lock')).mode & 0o777).toBe(0o600);
  });

  it("refuses another program's LMDB file with DATA_CORRUPT naming it, and leaves it as it was", async () => {
    const dir = join(base, 'foreign');
    const other = open({ path: join(dir, 'kvkit.mdb'), maxDbs: 4 });
    await other.openDB({ name: 'log' }).put(1, 'an entry of some other log');
    await other.close();
    const size = statSync(join(dir, 'kvkit.mdb')).size;
    const err = await failure(() => createStore(`local://${dir}`));
    expect(err.code).toBe('DATA_CORRUPT');
    expect(err.message).toContain(join(dir, 'kvkit.mdb'));
    expect(err.message).toContain('another program');
    expect(statSync(join(dir, 'kvkit.mdb')).size).toBe(size);
  });

  it('opens a store written before the format stamp, keys over 1900 bytes and their TTLs included', async () => {
    // The first format: no stamp, and a long key's slot was its first 1800 bytes, '#', SHA-256.
    const dir = join(base, 'legacy');
    const long = `old/${'l'.repeat(3000)}`;
    const oldSlot = `${long.slice(0, 1800)}#${createHash('sha256').update(long).digest('hex')}`;
    const expiresAt = Date.now() + 60_000;
    const legacy = open({ path: join(dir, 'kvkit.mdb'), maxDbs: 4 });
    const kv = legacy.openDB({ name: 'kv' });
    await kv.put('old/short', { k: 'old/short', v: new TextEncoder().encode('s'), r: 1 });
    await kv.put(oldSlot, { k: long, v: new TextEncoder().encode('l'), r: 2, e: expiresAt });
    await legacy.openDB({ name: 'meta' }).put('revision', 2);
    await legacy.close();

    const store = await openLocal(dir);
    expect(text(await store.get('old/short'))).toBe('s');
    expect(text(await store.get(long))).toBe('l');
    expect((await store.list('old')).map((p) => p.key)).toEqual([long, 'old/short']);
    await store.put('old/next', 'n');
    expect((await store.get('old/next')).lastIndex).toBe(3);
  });
});

describe('local store keys', () => {
  it('keeps a key over 1900 bytes apart from a short key spelled like its hashed slot', async () => {
    const store = await openLocal(join(base, 'slots'));
    const long = `k/${'x'.repeat(2500)}`;
    // The slot the first format gave `long`, written as a key of its own.
    const lookalike = `${long.slice(0, 1800)}#${createHash('sha256').update(long).digest('hex')}`;
    await store.put(long, 'long');
    await store.put(lookalike, 'short');
    expect(text(await store.get(long))).toBe('long');
    expect(text(await store.get(lookalike))).toBe('short');
    expect((await store.list('k')).length).toBe(2);
  });

  it('expires a 4 KiB key written with a ttl', async () => {
    const store = await openLocal(join(base, 'long-ttl'));
    const key = `t/${'y'.repeat(4094)}`;
    await store.put(key, 'v', { ttl: 600_000 });
    expect(await store.exists(key)).toBe(true);
    await store.put(key, 'v', { ttl: 1 });
    expect(await eventually(async () => !(await store.exists(key)), 10_000)).toBe(true);
  });

  it('round-trips every well-formed key losslessly: get, exists and list show it exactly', async () => {
    const store = await openLocal(join(base, 'lossless'));
    const tricky = ['\x01', '\x1b', '\x1bx', '\x7f', '\u0080', '\uFFFF', '\uFFFE', '#', 'a#b', '𝒳\x01'];
    const key = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 24 })
      .filter((k) => !k.includes('\0') && !k.startsWith('/'));
    const samples = [...tricky, ...fc.sample(key, { numRuns: 60, seed: 12 })];
    for (const [i, name] of samples.entries()) {
      const k = `p${i}/${name}`;
      await store.put(k, name);
      const pair = await store.get(k);
      expect(pair.key).toBe(k);
      expect(text(pair)).toBe(name);
      expect(await store.exists(k)).toBe(true);
      expect((await store.list(`p${i}`)).map((p) => p.key)).toEqual([k]);
    }
  }, 300_000);
});
