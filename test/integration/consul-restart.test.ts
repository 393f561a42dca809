/**
 * Consul going away under a live store: a restart during watch and watchTree (the -dev agent
 * comes back empty), and a stopped server (NOT_REACHABLE within connectTimeoutMs, no hang).
 * Both restart the one container of this file, so they run one after the other.
 */
import { describe, expect, it } from 'vitest';
import { failure, nextWithin, readUntil, text, within } from '../../src/conformance/helpers.js';
import { createStore, type KVPair } from '../../src/index.js';
import { entriesOf, eventuallyPut, useServer } from './server-fixture.js';
import { requireDocker } from './servers.js';

// Fails (does not skip) without Docker, unless KVKIT_SKIP_INTEGRATION=1.
const dockerAvailable = await requireDocker();

describe.skipIf(!dockerAvailable)('consul backend across server restarts and outages', () => {
  const consul = useServer('consul', 'consul');
  const open = consul.open;

  it('resumes watch and watchTree after a restart and ends at the true final state', async () => {
    const store = await open();
    await store.put('restart/k', 'v0');
    await store.put('restart/dir/a', 'a0');
    const stop = new AbortController();
    const watch = store.watch('restart/k', { signal: stop.signal })[Symbol.asyncIterator]();
    const tree = store.watchTree('restart/dir', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('v0');
    expect(entriesOf((await nextWithin(tree, 10_000)).value as KVPair[])).toEqual(['restart/dir/a=a0']);

    await consul.server().restart(); // -dev: the agent comes back with no data at all
    await eventuallyPut(store, 'restart/k', 'v1');
    await eventuallyPut(store, 'restart/dir/b', 'b1');

    const states = await readUntil(watch, (s) => text(s) === 'v1', 60_000);
    const lists = await readUntil(tree, (l) => entriesOf(l).join() === 'restart/dir/b=b1', 60_000);
    // The true final state is what the server holds now: the old keys went with the restart.
    expect(states.at(-1)).toEqual(await store.get('restart/k'));
    expect(lists.at(-1)).toEqual(await store.list('restart/dir'));

    // And both keep following the new consul.server().
    await store.put('restart/k', 'v2');
    await store.delete('restart/dir/b');
    expect(text((await readUntil(watch, (s) => text(s) === 'v2', 30_000)).at(-1) ?? null)).toBe('v2');
    expect((await readUntil(tree, (l) => l.length === 0, 30_000)).at(-1)).toEqual([]);
    stop.abort();
    expect(await nextWithin(watch, 5000)).toEqual({ value: undefined, done: true });
  }, 180_000);

  it('answers NOT_REACHABLE within connectTimeoutMs while the server is down, then serves again', async () => {
    const connectTimeoutMs = 1500;
    const store = await open(connectTimeoutMs);
    await store.put('down/k', 'before');
    const stop = new AbortController();
    const watch = store.watch('down/k', { signal: stop.signal })[Symbol.asyncIterator]();
    expect(text((await nextWithin(watch, 10_000)).value as KVPair)).toBe('before');
    const pair = await store.get('down/k');

    await consul.server().stop();
    const calls: [string, () => Promise<unknown>][] = [
      [
        'open',
        () => createStore({ backend: 'consul', endpoints: [consul.server().endpoint], connectTimeoutMs }),
      ],
      ['get', () => store.get('down/k')],
      ['put', () => store.put('down/k', 'during')],
      ['put with ttl', () => store.put('down/t', 'during', { ttl: 30_000 })],
      ['list', () => store.list('down')],
      ['atomicPut', () => store.atomicPut('down/k', 'during', pair)],
      ['atomicDelete', () => store.atomicDelete('down/k', pair)],
      ['delete', () => store.delete('down/k')],
      ['deleteTree', () => store.deleteTree('down')],
      ['lock', () => store.newLock('down/lock').lock()],
    ];
    for (const [name, call] of calls) {
      // A deadline against a hang (10x the connect timeout), not a measure of speed.
      const err = await within(
        failure(call),
        10 * connectTimeoutMs,
        `${name} failed while the server was down`,
      );
      expect({ name, code: err.code }).toEqual({ name, code: 'NOT_REACHABLE' });
    }

    await consul.server().start(); // empty again (-dev)
    await eventuallyPut(store, 'down/k', 'after');
    const states = await readUntil(watch, (s) => text(s) === 'after', 60_000);
    expect(states.at(-1)).toEqual(await store.get('down/k'));
    stop.abort();
  }, 180_000);
});
