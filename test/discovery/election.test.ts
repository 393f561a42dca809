import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nextWithin, readUntil, text } from '../../src/conformance/helpers.js';
import { type Discovery, openDiscovery, type Store } from '../../src/index.js';
import type { OpenedStore } from '../network-state/stores.js';
import { discoveryStores } from './stores.js';

/** A deadline against hangs, never a verdict on speed. */
const WAIT_MS = 30_000;
const KEY = 'swarm/leader';

describe.each(discoveryStores)('leader election on $name', (factory) => {
  let opened: OpenedStore;
  let store: Store;
  const open: Discovery[] = [];
  const disco = () => {
    const d = openDiscovery(store);
    open.push(d);
    return d;
  };

  beforeAll(async () => {
    opened = await factory.open();
    store = opened.store;
  }, 60_000);
  afterAll(async () => {
    await opened.cleanup();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
    await store.deleteTree('docker');
  });

  it('campaign yields false first, then true once elected', async () => {
    const stop = new AbortController();
    const states = disco().campaign(KEY, 'node-1', { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(states, WAIT_MS)).value).toBe(false);
    expect((await nextWithin(states, WAIT_MS)).value).toBe(true);
    expect(text(await store.get(`docker/${KEY}`))).toBe('node-1');
    stop.abort();
    expect((await nextWithin(states, WAIT_MS)).done).toBe(true);
  });

  it('a second candidate is elected only once the first resigns', async () => {
    const first = new AbortController();
    const a = disco().campaign(KEY, 'a', { signal: first.signal })[Symbol.asyncIterator]();
    await readUntil(a, (s) => s, WAIT_MS);
    const second = new AbortController();
    const b = disco().campaign(KEY, 'b', { signal: second.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(b, WAIT_MS)).value).toBe(false);
    const bElected = nextWithin(b, WAIT_MS);
    first.abort();
    expect((await nextWithin(a, WAIT_MS)).done).toBe(true);
    expect((await bElected).value).toBe(true);
    expect(text(await store.get(`docker/${KEY}`))).toBe('b');
    second.abort();
    await nextWithin(b, WAIT_MS);
  });

  it('aborting from inside the loop that reads the campaign resigns and ends it', async () => {
    const stop = new AbortController();
    const seen: boolean[] = [];
    for await (const leader of disco().campaign(KEY, 'me', { signal: stop.signal })) {
      seen.push(leader);
      if (leader) stop.abort();
    }
    expect(seen).toEqual([false, true]);
    expect(await store.exists(`docker/${KEY}`)).toBe(false);
  });

  it('aborting resigns at once, even while nobody reads the campaign', async () => {
    const stop = new AbortController();
    const states = disco().campaign(KEY, 'me', { signal: stop.signal })[Symbol.asyncIterator]();
    await readUntil(states, (s) => s, WAIT_MS);
    const gone = store.watch(`docker/${KEY}`)[Symbol.asyncIterator]();
    expect(await nextWithin(gone, WAIT_MS)).not.toBeNull();
    stop.abort();
    await readUntil(gone, (pair) => pair === null, WAIT_MS);
    await gone.return?.();
  });

  it('a leader whose lock is lost yields false and campaigns again', async () => {
    const stop = new AbortController();
    const states = disco().campaign(KEY, 'me', { ttlMs: 900, signal: stop.signal })[Symbol.asyncIterator]();
    await readUntil(states, (s) => s, WAIT_MS);
    await store.delete(`docker/${KEY}`);
    expect((await nextWithin(states, WAIT_MS)).value).toBe(false);
    expect((await nextWithin(states, WAIT_MS)).value).toBe(true);
    expect(text(await store.get(`docker/${KEY}`))).toBe('me');
    stop.abort();
  });

  it('leaving the loop resigns', async () => {
    for await (const leader of disco().campaign(KEY, 'me')) if (leader) break;
    expect(await store.exists(`docker/${KEY}`)).toBe(false);
  });

  it('a candidate whose store stops refreshing loses leadership to the next after the TTL', async () => {
    const other = await opened.reopen();
    if (other === store) return; // a single shared handle: nothing can die alone
    const dying = openDiscovery(other);
    const a = dying.campaign(KEY, 'a', { ttlMs: 1000 })[Symbol.asyncIterator]();
    await readUntil(a, (s) => s, WAIT_MS);
    const stop = new AbortController();
    const b = disco().campaign(KEY, 'b', { ttlMs: 1000, signal: stop.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(b, WAIT_MS)).value).toBe(false);
    await other.close();
    expect((await nextWithin(b, WAIT_MS)).value).toBe(true);
    stop.abort();
  });

  it('follow yields null with no leader, then each leader, without duplicates', async () => {
    const watch = new AbortController();
    const leaders = disco().follow(KEY, { signal: watch.signal })[Symbol.asyncIterator]();
    expect((await nextWithin(leaders, WAIT_MS)).value).toBe(null);
    const first = new AbortController();
    const a = disco().campaign(KEY, 'a', { signal: first.signal })[Symbol.asyncIterator]();
    await readUntil(a, (s) => s, WAIT_MS);
    expect((await nextWithin(leaders, WAIT_MS)).value).toBe('a');
    const second = new AbortController();
    const b = disco().campaign(KEY, 'b', { signal: second.signal })[Symbol.asyncIterator]();
    await nextWithin(b, WAIT_MS);
    const bElected = readUntil(b, (s) => s, WAIT_MS);
    first.abort();
    await bElected;
    const seen = await readUntil(leaders, (v) => v === 'b', WAIT_MS);
    expect(seen.filter((v) => v !== null)).toEqual(['b']);
    second.abort();
    const end = await readUntil(leaders, (v) => v === null, WAIT_MS);
    expect(end).toEqual([null]);
    watch.abort();
    expect((await nextWithin(leaders, WAIT_MS)).done).toBe(true);
  });
});
