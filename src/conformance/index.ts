import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_TTL_MS } from '../store/limits.js';
import type { Capabilities, KVPair, Store } from '../store/types.js';
import { casIncrement, delay, eventually, failure, nextWithin, readUntil, text } from './helpers.js';

export { expectNoSecrets, findSecrets } from './secrets.js';

export interface ConformanceOptions {
  /** Shown in the suite's title. */
  name: string;
  /** Opens a new store on the same data each call (locks and watches are tested between stores). */
  open: () => Promise<Store>;
  /** Extra slack for timing rules on slow backends (ms). Default 2000. */
  slackMs?: number;
}

const LONG = 120_000;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Keys in several scripts, emoji, and one letter composed and decomposed (kept apart: no normalisation). */
const UNICODE_KEYS = ['ключ', '鍵/値', 'مفتاح', 'कुंजी', '🔑🚀', 'caf\u00e9', 'cafe\u0301', '𝒳'];

/**
 * The Store contract as executable rules, one test per rule. Any backend runs it with:
 * `runConformance({ name: 'mine', open: () => createStore('mine://...') })` inside a vitest file.
 */
export function runConformance(options: ConformanceOptions): void {
  const slack = options.slackMs ?? 2000;
  const opened: Store[] = [];
  let store: Store;
  let caps: Capabilities;
  let run = 0;
  const base = `conformance/${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  /** A fresh key namespace per test, so tests never see each other's keys. */
  const ns = () => `${base}/t${++run}`;
  const open = async () => {
    const s = await options.open();
    opened.push(s);
    return s;
  };
  const ttlFor = (wantedMs: number) => Math.max(wantedMs, caps.ttl?.minMs ?? 0);
  const expiryWait = (ttlMs: number) => ttlMs + (caps.ttl?.granularityMs ?? 0) + slack;

  describe(`${options.name} conformance`, () => {
    beforeAll(async () => {
      store = await open();
      caps = store.capabilities;
    }, LONG);

    afterAll(async () => {
      for (const s of opened) await s.deleteTree(base).catch(() => {});
      await Promise.all(opened.map((s) => s.close()));
    }, LONG);

    describe('keys and values', () => {
      it('ignores a leading slash and returns keys without one', async () => {
        const k = `${ns()}/a`;
        await store.put(`/${k}`, 'v');
        expect((await store.get(k)).key).toBe(k);
        expect((await store.get(`/${k}`)).key).toBe(k);
        expect((await store.list(`/${k.split('/').slice(0, -1).join('/')}`)).map((p) => p.key)).toEqual([k]);
      });

      it('keeps a trailing slash: a/b/ is a key of its own, apart from a/b', async () => {
        const d = ns();
        await store.put(`${d}/a/b`, 'plain');
        await store.put(`${d}/a/b/`, 'slash');
        expect(text(await store.get(`${d}/a/b`))).toBe('plain');
        expect(text(await store.get(`${d}/a/b/`))).toBe('slash');
        expect((await store.get(`${d}/a/b/`)).key).toBe(`${d}/a/b/`);
        await store.delete(`${d}/a/b`);
        expect(await store.exists(`${d}/a/b/`)).toBe(true);
      });

      it('rejects the empty key with INVALID_KEY', async () => {
        expect((await failure(() => store.put('', 'v'))).code).toBe('INVALID_KEY');
        expect((await failure(() => store.get(''))).code).toBe('INVALID_KEY');
        expect((await failure(() => store.put('/', 'v'))).code).toBe('INVALID_KEY');
      });

      it('rejects a key with a NUL byte with INVALID_KEY and writes nothing', async () => {
        const d = ns();
        expect((await failure(() => store.put(`${d}/a\0b`, 'v'))).code).toBe('INVALID_KEY');
        expect(await store.list(d)).toEqual([]);
      });

      it('rejects a key over 4 KiB with INVALID_KEY and accepts one of exactly 4 KiB', async () => {
        const d = ns();
        const long = `${d}/${'k'.repeat(4097 - d.length - 1)}`;
        expect((await failure(() => store.put(long, 'v'))).code).toBe('INVALID_KEY');
        expect(await store.list(d)).toEqual([]);
        const max = `${d}/${'k'.repeat(4096 - d.length - 1)}`;
        await store.put(max, 'v');
        expect(text(await store.get(max))).toBe('v');
      });

      it('rejects a key that is not well-formed UTF-16 (a lone surrogate) with INVALID_KEY and writes nothing', async () => {
        const d = ns();
        for (const bad of [`${d}/a\uD800`, `${d}/\uDC00b`, `${d}/x\uDBFF\uDBFFy`]) {
          expect((await failure(() => store.put(bad, 'v'))).code).toBe('INVALID_KEY');
          expect((await failure(() => store.get(bad))).code).toBe('INVALID_KEY');
          expect((await failure(() => store.list(bad))).code).toBe('INVALID_KEY');
          expect((await failure(() => store.watch(bad)[Symbol.asyncIterator]().next())).code).toBe(
            'INVALID_KEY',
          );
        }
        expect(await store.list(d)).toEqual([]);
      });

      it(
        'round-trips non-ASCII keys (several scripts, emoji) byte for byte through put, get, list and watch',
        async () => {
          const d = ns();
          const keys = UNICODE_KEYS.map((name) => `${d}/${name}`);
          const stop = new AbortController();
          const tree = store.watchTree(d, { signal: stop.signal })[Symbol.asyncIterator]();
          expect((await nextWithin(tree, 10_000)).value).toEqual([]);
          for (const k of keys) await store.put(k, k);
          for (const k of keys) {
            const pair = await store.get(k);
            expect(pair.key).toBe(k);
            expect(text(pair)).toBe(k);
            expect(await store.exists(k)).toBe(true);
          }
          const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          expect((await store.list(d)).map((p) => p.key)).toEqual(sorted);
          const listed = await readUntil(tree, (l) => l.length === keys.length, 30_000);
          expect((listed.at(-1) as KVPair[]).map((p) => p.key)).toEqual(sorted);
          const watched = store.watch(keys[4], { signal: stop.signal })[Symbol.asyncIterator]();
          const first = (await nextWithin(watched, 10_000)).value as KVPair;
          expect(first.key).toBe(keys[4]);
          stop.abort();
          for (const k of keys) await store.delete(k);
          expect(await store.list(d)).toEqual([]);
        },
        LONG,
      );

      it('round-trips an empty value', async () => {
        const k = `${ns()}/empty`;
        await store.put(k, new Uint8Array());
        const pair = await store.get(k);
        expect(pair.value).toBeInstanceOf(Uint8Array);
        expect(pair.value.length).toBe(0);
      });

      it(
        'accepts a value of exactly maxValueBytes and round-trips it byte for byte',
        async () => {
          const k = `${ns()}/big`;
          const value = new Uint8Array(caps.maxValueBytes);
          for (let i = 0; i < value.length; i++) value[i] = (i * 7919 + (i >> 8)) & 0xff;
          await store.put(k, value);
          const got = (await store.get(k)).value;
          expect(got.length).toBe(value.length);
          expect(Buffer.from(got).equals(Buffer.from(value))).toBe(true);
        },
        LONG,
      );

      it('rejects a value of maxValueBytes + 1 with VALUE_TOO_LARGE and writes nothing', async () => {
        const k = `${ns()}/too-big`;
        const value = new Uint8Array(caps.maxValueBytes + 1);
        expect((await failure(() => store.put(k, value))).code).toBe('VALUE_TOO_LARGE');
        expect((await failure(() => store.atomicPut(k, value, null))).code).toBe('VALUE_TOO_LARGE');
        expect(await store.exists(k)).toBe(false);
      });

      it('stores string values as UTF-8', async () => {
        const k = `${ns()}/utf8`;
        await store.put(k, 'héllo ✓');
        expect([...(await store.get(k)).value]).toEqual([...new TextEncoder().encode('héllo ✓')]);
      });

      it('rejects get of an absent key with KEY_NOT_FOUND', async () => {
        expect((await failure(() => store.get(`${ns()}/missing`))).code).toBe('KEY_NOT_FOUND');
      });

      it('reports existence with exists', async () => {
        const k = `${ns()}/e`;
        expect(await store.exists(k)).toBe(false);
        await store.put(k, 'v');
        expect(await store.exists(k)).toBe(true);
      });

      it('deletes idempotently', async () => {
        const k = `${ns()}/d`;
        await store.put(k, 'v');
        await store.delete(k);
        await store.delete(k);
        expect(await store.exists(k)).toBe(false);
      });
    });

    describe('indexes and atomic operations', () => {
      it('gives lastIndex > 0 that strictly increases with every change of the key', async () => {
        const k = `${ns()}/idx`;
        await store.put(k, 'a');
        const first = await store.get(k);
        expect(first.lastIndex).toBeGreaterThan(0);
        await store.put(k, 'a');
        const second = await store.get(k);
        expect(second.lastIndex).toBeGreaterThan(first.lastIndex);
        await store.delete(k);
        await store.put(k, 'b');
        const third = await store.get(k);
        expect(third.lastIndex).toBeGreaterThan(second.lastIndex);
      });

      it('creates with atomicPut(k, v, null) and rejects with KEY_EXISTS when the key exists', async () => {
        const k = `${ns()}/c`;
        const created = await store.atomicPut(k, 'one', null);
        expect(text(created)).toBe('one');
        expect((await failure(() => store.atomicPut(k, 'two', null))).code).toBe('KEY_EXISTS');
        expect(text(await store.get(k))).toBe('one');
      });

      it('swaps with atomicPut only while the key is unchanged since the given pair', async () => {
        const k = `${ns()}/s`;
        await store.put(k, 'one');
        const pair = await store.get(k);
        const next = await store.atomicPut(k, 'two', pair);
        expect(text(await store.get(k))).toBe('two');
        expect(next.lastIndex).toBe((await store.get(k)).lastIndex);
        expect((await failure(() => store.atomicPut(k, 'three', pair))).code).toBe('KEY_MODIFIED');
        expect(text(await store.get(k))).toBe('two');
      });

      it('rejects atomicPut with KEY_MODIFIED when the key was deleted since the given pair', async () => {
        const k = `${ns()}/del`;
        await store.put(k, 'one');
        const pair = await store.get(k);
        await store.delete(k);
        expect((await failure(() => store.atomicPut(k, 'two', pair))).code).toBe('KEY_MODIFIED');
        expect(await store.exists(k)).toBe(false);
      });

      it('returns the new pair from atomicPut so a caller can chain', async () => {
        const k = `${ns()}/chain`;
        let pair = await store.atomicPut(k, '0', null);
        for (let i = 1; i <= 5; i++) pair = await store.atomicPut(k, String(i), pair);
        expect(pair.key).toBe(k);
        expect(text(pair)).toBe('5');
        expect(text(await store.get(k))).toBe('5');
      });

      it('deletes with atomicDelete only while the key is unchanged', async () => {
        const k = `${ns()}/ad`;
        await store.put(k, 'one');
        const stale = await store.get(k);
        await store.put(k, 'two');
        expect((await failure(() => store.atomicDelete(k, stale))).code).toBe('KEY_MODIFIED');
        await store.atomicDelete(k, await store.get(k));
        expect(await store.exists(k)).toBe(false);
      });

      it('rejects atomicDelete of an absent key with KEY_NOT_FOUND', async () => {
        const k = `${ns()}/gone`;
        await store.put(k, 'one');
        const pair = await store.get(k);
        await store.delete(k);
        expect((await failure(() => store.atomicDelete(k, pair))).code).toBe('KEY_NOT_FOUND');
      });

      it('rejects atomicDelete without a previous pair with PREVIOUS_NOT_SPECIFIED', async () => {
        const k = `${ns()}/np`;
        await store.put(k, 'one');
        const err = await failure(() => store.atomicDelete(k, null as unknown as KVPair));
        expect(err.code).toBe('PREVIOUS_NOT_SPECIFIED');
        expect(await store.exists(k)).toBe(true);
      });

      it(
        'loses no update under 100 concurrent atomicPut increments from 10 stores',
        async () => {
          const k = `${ns()}/counter`;
          const stores = [store, ...(await Promise.all(Array.from({ length: 9 }, () => open())))];
          await Promise.all(stores.flatMap((s) => Array.from({ length: 10 }, () => casIncrement(s, k))));
          expect(text(await store.get(k))).toBe('100');
        },
        LONG,
      );
    });

    describe('directories', () => {
      it('lists the keys under a prefix sorted by key, and [] when there are none', async () => {
        const d = ns();
        expect(await store.list(d)).toEqual([]);
        for (const k of ['b', 'a/x', 'c', 'a']) await store.put(`${d}/${k}`, k);
        expect((await store.list(d)).map((p) => p.key)).toEqual(
          ['a', 'a/x', 'b', 'c'].map((k) => `${d}/${k}`),
        );
      });

      it('treats p and p/ alike and never returns apple/x for list(app)', async () => {
        const d = ns();
        await store.put(`${d}/app/x`, '1');
        await store.put(`${d}/apple/x`, '2');
        await store.put(`${d}/app`, '3');
        const keys = (await store.list(`${d}/app`)).map((p) => p.key);
        expect(keys).toEqual([`${d}/app/x`]);
        expect((await store.list(`${d}/app/`)).map((p) => p.key)).toEqual(keys);
      });

      it("lists everything with list('')", async () => {
        const d = ns();
        await store.put(`${d}/one`, '1');
        await store.put(`${d}/two/deep`, '2');
        const all = (await store.list('')).map((p) => p.key);
        expect(all).toEqual(expect.arrayContaining([`${d}/one`, `${d}/two/deep`]));
        expect([...all].sort()).toEqual(all);
      });

      it('deletes only the keys under the directory with deleteTree', async () => {
        const d = ns();
        await store.put(`${d}/app/x`, '1');
        await store.put(`${d}/app/y/z`, '1');
        await store.put(`${d}/apple/x`, '2');
        await store.put(`${d}/app`, '3');
        await store.deleteTree(`${d}/app`);
        expect(await store.list(`${d}/app`)).toEqual([]);
        expect(await store.exists(`${d}/apple/x`)).toBe(true);
        expect(await store.exists(`${d}/app`)).toBe(true);
      });
    });

    describe('watches', () => {
      it('yields the current state first, null when absent', async () => {
        const d = ns();
        await store.put(`${d}/w`, 'now');
        const stop = new AbortController();
        const present = store.watch(`${d}/w`, { signal: stop.signal })[Symbol.asyncIterator]();
        const absent = store.watch(`${d}/none`, { signal: stop.signal })[Symbol.asyncIterator]();
        expect(text((await nextWithin(present, 10_000)).value as KVPair)).toBe('now');
        expect((await nextWithin(absent, 10_000)).value).toBeNull();
        stop.abort();
      });

      it(
        'yields each later state in order, null on delete, never an older one',
        async () => {
          const k = `${ns()}/w`;
          const stop = new AbortController();
          const iter = store.watch(k, { signal: stop.signal })[Symbol.asyncIterator]();
          expect((await nextWithin(iter, 10_000)).value).toBeNull();
          const writes = ['1', '2', '3', '4', '5'];
          for (const v of writes) await store.put(k, v);
          const seen = await readUntil(iter, (s) => text(s) === '5', 30_000);
          await store.delete(k);
          seen.push(...(await readUntil(iter, (s) => s === null, 30_000)));
          stop.abort();
          const values = seen.map(text);
          expect(values.at(-1)).toBeNull();
          const indexes = seen.filter((s): s is KVPair => s !== null).map((s) => s.lastIndex);
          expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
          expect(new Set(indexes).size).toBe(indexes.length);
          if (caps.watchCoalesces) {
            expect(writes).toEqual(expect.arrayContaining(values.slice(0, -1) as string[]));
          } else {
            expect(values).toEqual([...writes, null]);
          }
        },
        LONG,
      );

      it(
        'always delivers the latest state even when changes come fast',
        async () => {
          const k = `${ns()}/fast`;
          const stop = new AbortController();
          const iter = store.watch(k, { signal: stop.signal })[Symbol.asyncIterator]();
          await nextWithin(iter, 10_000);
          await Promise.all(Array.from({ length: 20 }, (_, i) => store.put(`${k}-other${i}`, 'x')));
          for (let i = 0; i < 20; i++) await store.put(k, String(i));
          const seen = await readUntil(iter, (s) => text(s) === '19', 30_000);
          stop.abort();
          expect(text(seen.at(-1) ?? null)).toBe('19');
        },
        LONG,
      );

      it(
        'yields the full sorted list first, then the full list after each change, the empty list too',
        async () => {
          const d = ns();
          await store.put(`${d}/dir/b`, 'b');
          await store.put(`${d}/apple`, 'not in dir');
          const stop = new AbortController();
          const iter = store.watchTree(`${d}/dir`, { signal: stop.signal })[Symbol.asyncIterator]();
          const keysOf = (l: KVPair[]) => l.map((p) => p.key);
          expect(keysOf((await nextWithin(iter, 10_000)).value as KVPair[])).toEqual([`${d}/dir/b`]);
          await store.put(`${d}/dir/a`, 'a');
          const afterAdd = await readUntil(iter, (l) => l.length === 2, 30_000);
          expect(keysOf(afterAdd.at(-1) as KVPair[])).toEqual([`${d}/dir/a`, `${d}/dir/b`]);
          await store.deleteTree(`${d}/dir`);
          const afterDelete = await readUntil(iter, (l) => l.length === 0, 30_000);
          expect(afterDelete.at(-1)).toEqual([]);
          stop.abort();
        },
        LONG,
      );

      it(
        'does not report changes outside the directory to watchTree',
        async () => {
          const d = ns();
          const stop = new AbortController();
          const iter = store.watchTree(`${d}/app`, { signal: stop.signal })[Symbol.asyncIterator]();
          expect((await nextWithin(iter, 10_000)).value).toEqual([]);
          await store.put(`${d}/apple/x`, 'outside');
          await store.put(`${d}/app`, 'outside too');
          await store.put(`${d}/app/x`, 'inside');
          const seen = await readUntil(iter, (l) => l.length > 0, 30_000);
          stop.abort();
          for (const list of seen) for (const p of list) expect(p.key.startsWith(`${d}/app/`)).toBe(true);
        },
        LONG,
      );

      it(
        'ends watch and watchTree cleanly when the signal aborts',
        async () => {
          const d = ns();
          const stop = new AbortController();
          const w = store.watch(`${d}/k`, { signal: stop.signal })[Symbol.asyncIterator]();
          const t = store.watchTree(d, { signal: stop.signal })[Symbol.asyncIterator]();
          await nextWithin(w, 10_000);
          await nextWithin(t, 10_000);
          const pendingW = w.next();
          const pendingT = t.next();
          stop.abort();
          expect((await Promise.race([pendingW, delay(5000).then(() => 'hung')])) as unknown).toEqual({
            value: undefined,
            done: true,
          });
          expect((await Promise.race([pendingT, delay(5000).then(() => 'hung')])) as unknown).toEqual({
            value: undefined,
            done: true,
          });
        },
        LONG,
      );

      it('yields nothing from a watch whose signal is already aborted', async () => {
        const stop = new AbortController();
        stop.abort();
        const iter = store.watch(`${ns()}/k`, { signal: stop.signal })[Symbol.asyncIterator]();
        expect(await nextWithin(iter, 5000)).toEqual({ value: undefined, done: true });
      });

      it('rejects a watch on an invalid key with INVALID_KEY', async () => {
        const iter = store.watch('')[Symbol.asyncIterator]();
        expect((await failure(() => iter.next())).code).toBe('INVALID_KEY');
      });
    });

    // Timing rules wait out TTLs (20 s on Consul): run them side by side, each on its own keys.
    // A backend declaring `ttl: null` (or `locks: false` below) gets these rules reported as
    // skipped, never passed; 'rejects calls the backend declares unsupported' then checks its
    // CALL_NOT_SUPPORTED instead. Every backend in this repository declares both, so none skips.
    describe.concurrent('TTL', () => {
      it(
        'removes a key written with a ttl after the ttl, and a watcher sees it go',
        async (ctx) => {
          if (!caps.ttl) return ctx.skip();
          const k = `${ns()}/ttl`;
          // Long enough that a starved machine still runs put, exists and the watch's first
          // read before the key expires; the rule is about expiry, not its speed.
          const ttl = ttlFor(2000);
          await store.put(k, 'short-lived', { ttl });
          expect(await store.exists(k)).toBe(true);
          const stop = new AbortController();
          const iter = store.watch(k, { signal: stop.signal })[Symbol.asyncIterator]();
          const seen = await readUntil(iter, (s) => s === null, expiryWait(ttl));
          stop.abort();
          expect(text(seen[0])).toBe('short-lived');
          expect(await store.exists(k)).toBe(false);
        },
        LONG,
      );

      it(
        'restarts the clock when a key with a ttl is rewritten',
        async (ctx) => {
          if (!caps.ttl) return ctx.skip();
          const granularity = caps.ttl.granularityMs ?? 0;
          // The verdict reads the clock around each call instead of trusting delays: a read only
          // counts if it started after the first write's ttl had passed and ended before the
          // rewrite's could have. A starved machine that misses that window tries again with a
          // longer ttl; it never turns into a pass or a failure.
          for (let attempt = 1, ttl = ttlFor(1000); ; attempt++, ttl *= 2) {
            const k = `${ns()}/ttl-renew-${attempt}`;
            await store.put(k, 'v1', { ttl });
            const firstWritten = Date.now();
            await delay(ttl * 0.5);
            const rewriteSent = Date.now();
            await store.put(k, 'v2', { ttl });
            await delay(Math.max(0, firstWritten + ttl + granularity + 100 - Date.now()));
            const readSent = Date.now();
            const pair = await store.get(k).catch((err) => err);
            const readAnswered = Date.now();
            const decides =
              rewriteSent < firstWritten + ttl && readAnswered < rewriteSent + ttl - granularity;
            if (!decides && attempt < 3) continue;
            expect(decides, 'a window to decide in, in one of three tries').toBe(true);
            expect(readSent).toBeGreaterThan(firstWritten + ttl);
            // Past the first write's ttl: alive only because the rewrite restarted the clock.
            expect(pair instanceof Error ? pair.message : text(pair)).toBe('v2');
            expect(await eventually(async () => !(await store.exists(k)), expiryWait(ttl))).toBe(true);
            return;
          }
        },
        3 * LONG,
      );

      it(
        'keeps a key written without a ttl after one with a ttl is replaced by it',
        async (ctx) => {
          if (!caps.ttl) return ctx.skip();
          const k = `${ns()}/ttl-cleared`;
          const ttl = ttlFor(300);
          await store.put(k, 'temporary', { ttl });
          await store.put(k, 'permanent');
          await delay(expiryWait(ttl));
          expect(text(await store.get(k))).toBe('permanent');
        },
        LONG,
      );

      it(
        'keeps a key written with a 30-day ttl, and one with the maximum ttl (MAX_TTL_MS), a few seconds later',
        async (ctx) => {
          if (!caps.ttl) return ctx.skip();
          const d = ns();
          await store.put(`${d}/month`, 'stays', { ttl: 30 * DAY_MS });
          await store.put(`${d}/year`, 'stays', { ttl: MAX_TTL_MS });
          await delay(3000 + (caps.ttl.granularityMs ?? 0));
          expect(text(await store.get(`${d}/month`))).toBe('stays');
          expect(text(await store.get(`${d}/year`))).toBe('stays');
        },
        LONG,
      );

      it('rejects a ttl over MAX_TTL_MS with INVALID_ARGUMENT naming it and the limit, and writes nothing', async () => {
        const k = `${ns()}/ttl-too-long`;
        const over = MAX_TTL_MS + 1;
        const err = await failure(() => store.put(k, 'v', { ttl: over }));
        expect(err.code).toBe('INVALID_ARGUMENT');
        expect(err.message).toContain(String(over));
        expect(err.message).toContain(String(MAX_TTL_MS));
        expect((await failure(() => store.atomicPut(k, 'v', null, { ttl: over }))).code).toBe(
          'INVALID_ARGUMENT',
        );
        expect((await failure(() => store.newLock(k, { ttl: over }).lock())).code).toBe('INVALID_ARGUMENT');
        expect(await store.exists(k)).toBe(false);
      });

      it('rejects a non-positive ttl with INVALID_ARGUMENT', async () => {
        const k = `${ns()}/bad-ttl`;
        expect((await failure(() => store.put(k, 'v', { ttl: -5 }))).code).toBe('INVALID_ARGUMENT');
        expect((await failure(() => store.put(k, 'v', { ttl: Number.NaN }))).code).toBe('INVALID_ARGUMENT');
        expect(await store.exists(k)).toBe(false);
      });
    });

    describe.concurrent('locks', () => {
      const lockTtl = () => ttlFor(1000);

      it(
        'excludes a second holder from another store until the first unlocks',
        async (ctx) => {
          if (!caps.locks) return ctx.skip();
          const k = `${ns()}/lock`;
          const other = await open();
          const first = store.newLock(k, { ttl: lockTtl() });
          const second = other.newLock(k, { ttl: lockTtl() });
          await first.lock();
          let secondHeld = false;
          const acquiring = second.lock().then((signal) => {
            secondHeld = true;
            return signal;
          });
          await delay(Math.min(1500, lockTtl()));
          expect(secondHeld).toBe(false);
          await first.unlock();
          await acquiring;
          expect(secondHeld).toBe(true);
          await second.unlock();
        },
        LONG,
      );

      it(
        'serves the lock value from get(lockKey) while held',
        async (ctx) => {
          if (!caps.locks) return ctx.skip();
          const k = `${ns()}/lock-value`;
          const lock = store.newLock(k, { value: 'holder-1', ttl: lockTtl() });
          await lock.lock();
          expect(text(await store.get(k))).toBe('holder-1');
          await lock.unlock();
        },
        LONG,
      );

      it(
        'hands the lock to a waiter after a holder whose store closed lets its ttl pass',
        async (ctx) => {
          if (!caps.locks) return ctx.skip();
          const k = `${ns()}/lock-expire`;
          const holderStore = await open();
          const waiterStore = await open();
          await holderStore.newLock(k, { ttl: lockTtl() }).lock();
          const waiter = waiterStore.newLock(k, { ttl: lockTtl() });
          const acquired = waiter.lock();
          await holderStore.close();
          const result = await Promise.race([
            acquired.then(() => 'acquired'),
            delay(expiryWait(lockTtl()) * 2 + 5000),
          ]);
          expect(result).toBe('acquired');
          await waiter.unlock();
        },
        LONG,
      );

      it(
        'gives up waiting for a lock when the signal aborts, and the holder keeps it',
        async (ctx) => {
          if (!caps.locks) return ctx.skip();
          const k = `${ns()}/lock-abort`;
          const other = await open();
          const holder = store.newLock(k, { ttl: lockTtl() });
          const lost = await holder.lock();
          const stop = new AbortController();
          const waiting = other.newLock(k, { ttl: lockTtl() }).lock({ signal: stop.signal });
          setTimeout(() => stop.abort(), 200);
          const err = await failure(() => waiting);
          expect(err).toBeInstanceOf(Error);
          expect(lost.aborted).toBe(false);
          await holder.unlock();
        },
        LONG,
      );

      it(
        'holds a lock taken with a 30-day ttl, its key unchanged a few seconds later',
        async (ctx) => {
          if (!caps.locks) return ctx.skip();
          const k = `${ns()}/lock-month`;
          const lock = store.newLock(k, { value: 'long', ttl: 30 * DAY_MS });
          const lost = await lock.lock();
          const taken = await store.get(k);
          await delay(3000);
          expect(lost.aborted).toBe(false);
          const later = await store.get(k);
          expect(text(later)).toBe('long');
          expect(later.lastIndex).toBe(taken.lastIndex);
          await lock.unlock();
        },
        LONG,
      );

      it('rejects unlock when the lock is not held with CANNOT_LOCK', async (ctx) => {
        if (!caps.locks) return ctx.skip();
        const lock = store.newLock(`${ns()}/lock-unheld`, { ttl: lockTtl() });
        expect((await failure(() => lock.unlock())).code).toBe('CANNOT_LOCK');
      });

      it(
        'lets a lock be taken again after unlock',
        async (ctx) => {
          if (!caps.locks) return ctx.skip();
          const lock = store.newLock(`${ns()}/lock-again`, { ttl: lockTtl() });
          await lock.lock();
          await lock.unlock();
          const signal = await lock.lock();
          expect(signal.aborted).toBe(false);
          await lock.unlock();
        },
        LONG,
      );
    });

    describe('unsupported capabilities', () => {
      it('rejects calls the backend declares unsupported with CALL_NOT_SUPPORTED', async () => {
        const k = `${ns()}/cap`;
        if (!caps.ttl)
          expect((await failure(() => store.put(k, 'v', { ttl: 1000 }))).code).toBe('CALL_NOT_SUPPORTED');
        if (!caps.watch)
          expect((await failure(() => store.watch(k)[Symbol.asyncIterator]().next())).code).toBe(
            'CALL_NOT_SUPPORTED',
          );
        if (!caps.watchTree) {
          expect((await failure(() => store.watchTree(k)[Symbol.asyncIterator]().next())).code).toBe(
            'CALL_NOT_SUPPORTED',
          );
        }
        if (!caps.locks)
          expect((await failure(() => store.newLock(k).lock())).code).toBe('CALL_NOT_SUPPORTED');
        expect(typeof caps.watchCoalesces).toBe('boolean');
        expect(typeof caps.crossProcessWatch).toBe('boolean');
      });
    });

    describe('close', () => {
      it(
        'ends open watches when the store closes',
        async () => {
          const d = ns();
          const s = await open();
          const w = s.watch(`${d}/k`)[Symbol.asyncIterator]();
          const t = s.watchTree(d)[Symbol.asyncIterator]();
          await nextWithin(w, 10_000);
          await nextWithin(t, 10_000);
          const pending = [w.next(), t.next()];
          await s.close();
          for (const p of pending) {
            expect(await Promise.race([p, delay(5000).then(() => 'hung')])).toEqual({
              value: undefined,
              done: true,
            });
          }
        },
        LONG,
      );

      it(
        'rejects every call after close with CLOSED',
        async () => {
          const k = `${ns()}/closed`;
          const s = await open();
          await s.put(k, 'v');
          const pair = await s.get(k);
          await s.close();
          await s.close();
          const calls: [string, () => unknown][] = [
            ['put', () => s.put(k, 'v')],
            ['get', () => s.get(k)],
            ['delete', () => s.delete(k)],
            ['exists', () => s.exists(k)],
            ['list', () => s.list(k)],
            ['deleteTree', () => s.deleteTree(k)],
            ['atomicPut', () => s.atomicPut(k, 'v', pair)],
            ['atomicDelete', () => s.atomicDelete(k, pair)],
            ['watch', () => s.watch(k)[Symbol.asyncIterator]().next()],
            ['watchTree', () => s.watchTree(k)[Symbol.asyncIterator]().next()],
            ['newLock', async () => s.newLock(k).lock()],
          ];
          for (const [name, call] of calls) {
            expect({ name, code: (await failure(call)).code }).toEqual({ name, code: 'CLOSED' });
          }
          expect(text(await store.get(k))).toBe('v');
        },
        LONG,
      );
    });
  });
}
