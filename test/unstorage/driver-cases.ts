/**
 * The cases of unstorage's own driver test (`testDriver` in unstorage's test/drivers/utils.ts,
 * v1.17.5; the npm package does not ship it), ported case for case and named alike: init,
 * initial state, setItem, getKeys, getKeys with depth, serialize (object), serialize
 * (primitive), serialize (lossy object with toJSON()), serialize (error for non primitives),
 * raw support, setItems, getItems, getItem with falsy values, removeItem, clear. Like the
 * original, each runs on a storage over the driver and the storage is cleared after each.
 */

import { createStorage, type Driver, restoreSnapshot, type Storage } from 'unstorage';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';

export interface DriverContext {
  storage: Storage;
  driver: Driver;
}

export function unstorageDriverCases(opts: {
  driver: () => Driver | Promise<Driver>;
  /** Cases of the driver's own, run where the original runs its `additionalTests`. */
  additionalTests?: (ctx: DriverContext) => void;
}): void {
  const ctx = {} as DriverContext;

  beforeAll(async () => {
    ctx.driver = await opts.driver();
    ctx.storage = createStorage({ driver: ctx.driver });
  });

  afterAll(async () => {
    await ctx.driver?.dispose?.();
    await ctx.storage?.dispose?.();
  });

  afterEach(async () => {
    await ctx.storage.clear();
  });

  it('init', async () => {
    await restoreSnapshot(ctx.storage, { initial: 'works' });
    expect(await ctx.storage.getItem('initial')).toBe('works');
    await ctx.storage.clear();
  });

  it('initial state', async () => {
    expect(await ctx.storage.hasItem('s1:a')).toBe(false);
    expect(await ctx.storage.getItem('s2:a')).toBe(null);
    expect(await ctx.storage.getKeys()).toMatchObject([]);
  });

  it('setItem', async () => {
    for (const key of ['s1:a', 's2:a', 's3:a?q=1']) await ctx.storage.setItem(key, 'test_data');
    expect(await ctx.storage.hasItem('s1:a')).toBe(true);
    expect(await ctx.storage.getItem('s1:a')).toBe('test_data');
    // The query string is not part of the key.
    expect(await ctx.storage.getItem('s3:a?q=2')).toBe('test_data');
  });

  it('getKeys', async () => {
    for (const key of ['s1:a', 's2:a', 's3:a?q=1']) await ctx.storage.setItem(key, 'test_data');
    expect((await ctx.storage.getKeys()).sort()).toMatchObject(['s1:a', 's2:a', 's3:a']);
    expect((await ctx.storage.getKeys('s1')).sort()).toMatchObject(['s1:a']);
  });

  it('getKeys with depth', async () => {
    for (const key of [
      'depth0_0',
      'depth0:depth1:depth2_0',
      'depth0:depth1:depth2_1',
      'depth0:depth1_0',
      'depth0:depth1_1',
    ]) {
      await ctx.storage.setItem(key, 'test_data');
    }
    expect(await ctx.storage.getKeys(undefined, { maxDepth: 0 })).toMatchObject(['depth0_0']);
    expect((await ctx.storage.getKeys(undefined, { maxDepth: 1 })).sort()).toMatchObject([
      'depth0:depth1_0',
      'depth0:depth1_1',
      'depth0_0',
    ]);
    expect((await ctx.storage.getKeys(undefined, { maxDepth: 2 })).sort()).toMatchObject([
      'depth0:depth1:depth2_0',
      'depth0:depth1:depth2_1',
      'depth0:depth1_0',
      'depth0:depth1_1',
      'depth0_0',
    ]);
  });

  it('serialize (object)', async () => {
    await ctx.storage.setItem('/data/test.json', { json: 'works' });
    expect(await ctx.storage.getItem('/data/test.json')).toMatchObject({ json: 'works' });
  });

  it('serialize (primitive)', async () => {
    await ctx.storage.setItem('/data/true.json', true);
    expect(await ctx.storage.getItem('/data/true.json')).toBe(true);
  });

  it('serialize (lossy object with toJSON())', async () => {
    class AsString {
      toJSON() {
        return 'SERIALIZED';
      }
    }
    class AsObject {
      toJSON() {
        return { serializedObj: 'works' };
      }
    }
    await ctx.storage.setItem('/data/serialized1.json', new AsString());
    expect(await ctx.storage.getItem('/data/serialized1.json')).toBe('SERIALIZED');
    await ctx.storage.setItem('/data/serialized2.json', new AsObject());
    expect(await ctx.storage.getItem('/data/serialized2.json')).toMatchObject({ serializedObj: 'works' });
  });

  it('serialize (error for non primitives)', async () => {
    class Opaque {}
    await expect(ctx.storage.setItem('/data/badvalue.json', new Opaque())).rejects.toThrow(
      '[unstorage] Cannot stringify value!',
    );
  });

  it('raw support', async () => {
    const value = new Uint8Array([1, 2, 3]);
    await ctx.storage.setItemRaw('/data/raw.bin', value);
    const got = (await ctx.storage.getItemRaw('/data/raw.bin')) as Uint8Array;
    expect(got?.length ?? got?.byteLength).toBe(value.length);
    expect(Buffer.from(got).toString('base64')).toBe(Buffer.from(value).toString('base64'));
  });

  it('setItems', async () => {
    await ctx.storage.setItems([
      { key: 't:1', value: 'test_data_t1' },
      { key: 't:2', value: 'test_data_t2' },
      { key: 't:3', value: 'test_data_t3' },
    ]);
    for (const n of [1, 2, 3]) expect(await ctx.storage.getItem(`t:${n}`)).toBe(`test_data_t${n}`);
  });

  it('getItems', async () => {
    await ctx.storage.setItem('v3:a?q=1', 'test_data_v3:a?q=1');
    await ctx.storage.setItem('v2:a', 'test_data_v2:a');
    await ctx.storage.setItem('v1:a', 'test_data_v1:a');
    expect(
      await ctx.storage.getItems([{ key: 'v1:a' }, 'v2:a', { key: 'v3:a?q=1' }, 'v4:undefined']),
    ).toMatchObject([
      { key: 'v1:a', value: 'test_data_v1:a' },
      { key: 'v2:a', value: 'test_data_v2:a' },
      { key: 'v3:a', value: 'test_data_v3:a?q=1' }, // the key loses its query string
      { key: 'v4:undefined', value: null },
    ]);
  });

  it('getItem - return falsy values when set in storage', async () => {
    await ctx.storage.setItem('zero', 0);
    expect(await ctx.storage.getItem('zero')).toBe(0);
    await ctx.storage.setItem('my-false-flag', false);
    expect(await ctx.storage.getItem('my-false-flag')).toBe(false);
  });

  opts.additionalTests?.(ctx);

  it('removeItem', async () => {
    await ctx.storage.removeItem('s1:a', false);
    expect(await ctx.storage.hasItem('s1:a')).toBe(false);
    expect(await ctx.storage.getItem('s1:a')).toBe(null);
  });

  it('clear', async () => {
    await ctx.storage.clear();
    expect(await ctx.storage.getKeys()).toMatchObject([]);
    // Clearing an empty storage works too (unstorage #162).
    await ctx.storage.clear();
    expect(await ctx.storage.getKeys()).toMatchObject([]);
  });
}
