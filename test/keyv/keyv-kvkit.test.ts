/**
 * KeyvKvkit beyond keyv's own suite: how keyv's keys, namespaces and TTLs land in the Store,
 * iteration, and who closes the Store.
 */
import Keyv from 'keyv';
import { afterEach, describe, expect, it } from 'vitest';
import { delay, eventually, failure } from '../../src/conformance/helpers.js';
import { KeyvKvkit } from '../../src/keyv/index.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/types.js';
import { text } from '../../src/store/values.js';

const stores: Store[] = [];
async function memory(): Promise<Store> {
  const store = await createStore('memory:');
  stores.push(store);
  return store;
}
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

describe('KeyvKvkit', () => {
  it('stores namespace:key as the Store key namespace/key, holding what keyv serialized', async () => {
    const store = await memory();
    const keyv = new Keyv({ store: new KeyvKvkit(store), namespace: 'cache' });
    await keyv.set('user:1', { name: 'ada' });
    expect(JSON.parse(text(await store.get('cache/user:1')))).toEqual({ value: { name: 'ada' } });
    expect(await keyv.get('user:1')).toEqual({ name: 'ada' });
  });

  it('takes its first namespace from the options, until a Keyv sets its own', async () => {
    const store = await memory();
    const adapter = new KeyvKvkit(store, { namespace: 'sessions' });
    expect(adapter.namespace).toBe('sessions');
    await adapter.set('sessions:abc', 'raw');
    expect(text(await store.get('sessions/abc'))).toBe('raw');
    new Keyv({ store: adapter, namespace: 'other' });
    expect(adapter.namespace).toBe('other');
  });

  it("gives keyv's TTL to the Store, so the key goes from the backend too", async () => {
    const store = await memory();
    const keyv = new Keyv({ store: new KeyvKvkit(store) });
    await keyv.set('short', 'v', 50);
    expect(await store.exists('keyv/short')).toBe(true);
    expect(await eventually(async () => !(await store.exists('keyv/short')), 5000)).toBe(true);
    await keyv.set('long', 'v', 2 * 366 * 24 * 3600 * 1000); // past the Store's maximum: keyv keeps it
    await delay(20);
    expect(await keyv.get('long')).toBe('v');
  });

  it('clears its namespace only, and everything without one', async () => {
    const store = await memory();
    await store.put('unrelated/k', 'stays');
    const a = new Keyv({ store: new KeyvKvkit(store), namespace: 'a' });
    const b = new Keyv({ store: new KeyvKvkit(store), namespace: 'b' });
    await a.set('k', 1);
    await b.set('k', 2);
    await a.clear();
    expect(await a.get('k')).toBeUndefined();
    expect(await b.get('k')).toBe(2);
    expect(await store.exists('unrelated/k')).toBe(true);
    await new KeyvKvkit(store).clear();
    expect(await store.list('')).toEqual([]);
  });

  it('iterates over a namespace with keys as keyv gave them', async () => {
    const store = await memory();
    const adapter = new KeyvKvkit(store);
    const keyv = new Keyv({ store: adapter, namespace: 'it' });
    await keyv.set('x', 1);
    await keyv.set('y/z', 2);
    await new Keyv({ store: new KeyvKvkit(store), namespace: 'other' }).set('x', 3);
    const seen: unknown[] = [];
    for await (const [key, raw] of adapter.iterator('it')) seen.push([key, JSON.parse(String(raw)).value]);
    expect(seen).toEqual([
      ['it:x', 1],
      ['it:y/z', 2],
    ]);
  });

  it('answers delete with whether the key was there', async () => {
    const store = await memory();
    const keyv = new Keyv({ store: new KeyvKvkit(store) });
    expect(await keyv.delete('nope')).toBe(false);
    await keyv.set('yes', 1);
    expect(await keyv.delete('yes')).toBe(true);
    expect(await keyv.delete('yes')).toBe(false);
  });

  it('closes a Store it opened from a URL on disconnect, and leaves a given Store open', async () => {
    const owned = new KeyvKvkit('memory://keyv-owned');
    await owned.set('k', 'v');
    await owned.disconnect();
    expect((await failure(() => owned.get('k'))).code).toBe('CLOSED');
    const store = await memory();
    const borrowed = new KeyvKvkit(store);
    await borrowed.disconnect();
    await store.put('still', 'open');
  });

  it('reports a URL that cannot be opened on each call, with no secret in it', async () => {
    const keyv = new Keyv({ store: new KeyvKvkit('nosuch://user:hunter2@h:1'), throwOnErrors: true });
    const err = await failure(() => keyv.get('k'));
    expect(err.code).toBe('BACKEND_NOT_SUPPORTED');
    expect(err.message).not.toContain('hunter2');
    expect((keyv.opts.store as KeyvKvkit).opts.url).not.toContain('hunter2');
  });
});
