/**
 * Redis going away under a live store, as the other backends' restart tests do it: a restart
 * during watch and watchTree (the server keeps its data and forgets CONFIG SET, which kvkit
 * sets again), and a stopped server (NOT_REACHABLE within connectTimeoutMs, no hang, then it
 * serves again). One set of cases for the redis-server process of the unit tests and the
 * container of the integration project; the cases restart the one server, so they run in turn.
 */
import { expect, it } from 'vitest';
import { failure, nextWithin, readUntil, text, within } from '../../src/conformance/helpers.js';
import { createStore, type KVPair, type Store } from '../../src/index.js';
import { entriesOf, eventuallyPut } from '../integration/server-fixture.js';

/** A server that keeps its data across stop()/start() and keeps its endpoint. */
export interface RestartableServer {
  endpoint: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export function redisOutageCases(
  server: () => RestartableServer,
  open: (connectTimeoutMs?: number) => Promise<Store>,
): void {
  it('resumes watch and watchTree after a restart and ends at the true final state', async () => {
    const watcher = await open();
    await watcher.put('restart/k', 'v0');
    await watcher.put('restart/dir/a', 'a0');
    const stop = new AbortController();
    const watch = watcher.watch('restart/k', { signal: stop.signal })[Symbol.asyncIterator]();
    const tree = watcher.watchTree('restart/dir', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('v0');
    expect(entriesOf((await nextWithin(tree, 10_000)).value as KVPair[])).toEqual(['restart/dir/a=a0']);

    await server().stop();
    await server().start();
    // Written by another store at once, while the watching store may still be reconnecting.
    const writer = await open();
    await eventuallyPut(writer, 'restart/k', 'v1');
    await writer.put('restart/k', 'v2');
    await writer.put('restart/dir/b', 'b1');
    await writer.delete('restart/dir/a');

    const seen = await readUntil(watch, (s) => text(s) === 'v2', 60_000);
    const lists = await readUntil(tree, (l) => entriesOf(l).join() === 'restart/dir/b=b1', 60_000);
    stop.abort();
    expect(seen.at(-1)).toEqual(await watcher.get('restart/k'));
    expect(lists.at(-1)).toEqual(await watcher.list('restart/dir'));
  }, 180_000);

  it('answers NOT_REACHABLE within connectTimeoutMs while the server is down, then serves again', async () => {
    const connectTimeoutMs = 1500;
    // A deadline against a hang, not against a busy machine: the point is "bounded", not "fast".
    const bound = connectTimeoutMs + 30_000;
    const store = await open(connectTimeoutMs);
    await store.put('down/k', 'before');
    const stop = new AbortController();
    const watch = store.watch('down/k', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('before');
    const pair = await store.get('down/k');

    await server().stop();
    const calls: [string, () => Promise<unknown>][] = [
      ['open', () => createStore({ backend: 'redis', endpoints: [server().endpoint], connectTimeoutMs })],
      ['get', () => store.get('down/k')],
      ['put', () => store.put('down/k', 'during')],
      ['put with ttl', () => store.put('down/t', 'during', { ttl: 30_000 })],
      ['exists', () => store.exists('down/k')],
      ['list', () => store.list('down')],
      ['atomicPut', () => store.atomicPut('down/k', 'during', pair)],
      ['atomicDelete', () => store.atomicDelete('down/k', pair)],
      ['delete', () => store.delete('down/k')],
      ['deleteTree', () => store.deleteTree('down')],
      ['lock', () => store.newLock('down/lock').lock()],
    ];
    for (const [name, call] of calls) {
      const err = await within(failure(call), bound, `${name} gave up while the server was down`);
      expect({ name, code: err.code }).toEqual({ name, code: 'NOT_REACHABLE' });
    }

    await server().start();
    await eventuallyPut(store, 'down/k', 'after');
    const states = await readUntil(watch, (s) => text(s) === 'after', 60_000);
    expect(states.at(-1)).toEqual(await store.get('down/k'));
    stop.abort();
  }, 180_000);
}
