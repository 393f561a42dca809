import { Backoff } from '../../store/backoff.js';
import { Channel } from '../../store/channel.js';
import { isKVError } from '../../store/errors.js';
import { anySignal } from '../../store/signals.js';
import type { ConsulConnection, ConsulEntry } from './connection.js';

/** How long one blocking query waits on the server before answering unchanged (ms). */
const WAIT_MS = 30_000;
/** An unchanged answer sooner than this share of the wait is not the wait running out. */
const EARLY_FRACTION = 0.9;

export interface KvQuery {
  /** The key, or with `recurse` the directory, as it travels in the URL. */
  path: string;
  recurse: boolean;
}

/**
 * Follows `query` with blocking queries: yields the entries at once, then again after every
 * change. The queries run ahead of the reader, which sees only the latest answer it has not
 * read yet (so changes may coalesce): a query is always in flight, so a server restart is seen
 * as it happens, not when the reader comes back with an index the new server never reaches.
 * Survives restarts and outages: after a failure it retries with backoff and reads afresh
 * (index 0). Ends when `signal` aborts or the reader stops (the request in flight is
 * cancelled). Errors other than NOT_REACHABLE (e.g. permission denied) reach the reader.
 */
export function followKv(
  conn: ConsulConnection,
  query: KvQuery,
  signal: AbortSignal,
): AsyncIterableIterator<ConsulEntry[]> {
  const readerGone = new AbortController();
  const channel = new Channel<ConsulEntry[]>({ signal, latestOnly: true, onEnd: () => readerGone.abort() });
  void pump(poll(conn, query, anySignal(signal, readerGone.signal)), channel);
  return channel;
}

async function pump(answers: AsyncGenerator<ConsulEntry[]>, channel: Channel<ConsulEntry[]>): Promise<void> {
  try {
    for await (const entries of answers) channel.push(entries);
    channel.end();
  } catch (err) {
    channel.fail(err);
  }
}

/** The blocking-query loop itself: one answer per change of the index. */
async function* poll(
  conn: ConsulConnection,
  query: KvQuery,
  signal: AbortSignal,
): AsyncGenerator<ConsulEntry[]> {
  const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
  let index = 0;
  while (!signal.aborted) {
    let answer: { entries: ConsulEntry[]; index: number };
    const askedAt = Date.now();
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
    if (answer.index === index && index !== 0) {
      // Unchanged. After the full wait that is just the wait running out; sooner, the agent
      // answered because it is shutting down, and the next query may reach a restarted agent
      // that never reaches our index: read afresh rather than block on it.
      if (Date.now() - askedAt < WAIT_MS * EARLY_FRACTION) index = 0;
      continue;
    }
    // A smaller index means the server lost its history (e.g. a -dev agent restarted): what it
    // says now is the truth, so report it.
    // Index 0 would make the next query answer at once, forever; Consul advises 1 then.
    index = Math.max(1, answer.index);
    yield answer.entries;
  }
}
