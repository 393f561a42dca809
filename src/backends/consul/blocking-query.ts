import { Backoff } from '../../store/backoff.js';
import { isKVError } from '../../store/errors.js';
import type { ConsulConnection, ConsulEntry } from './connection.js';

/** How long one blocking query waits on the server before answering unchanged (ms). */
const WAIT_MS = 30_000;

export interface KvQuery {
  /** The key, or with `recurse` the directory, as it travels in the URL. */
  path: string;
  recurse: boolean;
}

/**
 * Follows `query` with blocking queries: yields the entries at once, then again after every
 * change (changes in between may coalesce). Survives server restarts and outages: after a
 * failure it retries with backoff and reads afresh (index 0), so it never waits on an index
 * from a server that lost its history. Ends when `signal` aborts; the request in flight is
 * cancelled. Errors other than NOT_REACHABLE (e.g. permission denied) end it by throwing.
 */
export async function* followKv(
  conn: ConsulConnection,
  query: KvQuery,
  signal: AbortSignal,
): AsyncGenerator<ConsulEntry[]> {
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
  let index = 0;
  while (!signal.aborted) {
    let answer: { entries: ConsulEntry[]; index: number };
    try {
      answer = await conn.kvBlockingGet(query.path, {
        recurse: query.recurse,
        index,
        waitMs: WAIT_MS,
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      if (!isKVError(err, 'NOT_REACHABLE')) throw err;
      index = 0;
      try {
        await backoff.wait(signal);
      } catch {
        return;
      }
      continue;
    }
    backoff.reset();
    // Unchanged (the wait ran out): nothing to report. A smaller index means the server lost
    // its history (e.g. a -dev agent restarted): what it says now is the truth, so report it.
    if (answer.index === index && index !== 0) continue;
    // Index 0 would make the next query answer at once, forever; Consul advises 1 then.
    index = Math.max(1, answer.index);
    yield answer.entries;
  }
}
