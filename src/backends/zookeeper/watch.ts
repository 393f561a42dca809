import { Backoff } from '../../store/backoff.js';
import { Channel } from '../../store/channel.js';
import type { KVPair } from '../../store/types.js';
import { SessionLostError, type ZkConnection } from './connection.js';
import { childKeySegment, childPath } from './paths.js';
import type { MainSession } from './sessions.js';
import { pairOf } from './stat.js';
import { ZkCode, type ZkWatcher, zkCode } from './zk-client.js';
import { isConnectionError, toKVError } from './zk-errors.js';

/**
 * Reads a state and leaves a one-shot ZooKeeper watch behind (`read` registers `watcher` on
 * every znode it reads). Any notification, and every (re)connection of the session, triggers
 * a fresh read that re-arms the watches; reads never overlap and a notification arriving
 * during a read causes one more. Because every change after a read fires a watch that read
 * left, the last read always sees the final state. Intermediate states may be skipped.
 */
export function rearmingWatch<T>(
  main: MainSession,
  signal: AbortSignal,
  what: string,
  read: (conn: ZkConnection, watcher: ZkWatcher) => Promise<T>,
): AsyncIterable<T> {
  const backoff = new Backoff({ initialMs: 100, maxMs: 2000 });
  let running = false;
  let dirty = false;
  let retryTimer: NodeJS.Timeout | null = null;
  const channel = new Channel<T>({
    signal,
    latestOnly: true,
    onEnd: () => {
      unsubscribe();
      if (retryTimer) clearTimeout(retryTimer);
    },
  });

  const schedule = () => {
    if (channel.ended) return;
    if (running) {
      dirty = true;
      return;
    }
    void run();
  };
  // One function for every registration, so the client never holds duplicates of it.
  const watcher: ZkWatcher = () => schedule();

  async function run(): Promise<void> {
    running = true;
    try {
      while (!channel.ended) {
        dirty = false;
        const conn = main.current;
        if (!conn) return; // onConnected schedules the next read
        try {
          const state = await read(conn, watcher);
          if (channel.ended) return;
          backoff.reset();
          channel.push(state);
        } catch (err) {
          if (channel.ended) return;
          if (!isTransient(err)) {
            channel.fail(toKVError(err, what));
            return;
          }
          // Lost connection: the reconnect schedules a read. Anything else: retry shortly.
          if (!dirty && main.current) retryLater();
        }
        if (!dirty) return;
      }
    } finally {
      running = false;
    }
  }

  function retryLater(): void {
    if (retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      schedule();
    }, backoff.nextDelayMs());
  }

  const unsubscribe = main.onConnected(schedule);
  schedule();
  return channel;
}

function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    isConnectionError(err) ||
    err instanceof SessionLostError ||
    code === 'TIMEOUT' ||
    code === 'NOT_REACHABLE'
  );
}

/** The state of one key: its pair, or null when absent (or only an intermediate znode). */
export async function readKey(
  conn: ZkConnection,
  watcher: ZkWatcher,
  key: string,
  path: string,
): Promise<KVPair | null> {
  for (;;) {
    try {
      const { data, stat } = await conn.getData(path, watcher);
      return data === undefined ? null : pairOf(key, data, stat);
    } catch (err) {
      if (zkCode(err) !== ZkCode.NO_NODE) throw err;
    }
    // Absent: watch for its creation; if it appeared in between, read it again.
    if ((await conn.exists(path, watcher)) === null) return null;
  }
}

/**
 * Every key under the znode `root` (whose own key, if any, is `rootKey`; null for '/'), read
 * with data and child watches on every znode, so any change below fires one of them.
 * Names kvkit never writes (lock queues, foreign names) are neither listed nor descended.
 */
export async function readTree(
  conn: ZkConnection,
  watcher: ZkWatcher | undefined,
  root: string,
  rootKey: string | null,
): Promise<KVPair[]> {
  const out: KVPair[] = [];
  let children: string[];
  for (;;) {
    try {
      children = await conn.getChildren(root, watcher);
      break;
    } catch (err) {
      if (zkCode(err) !== ZkCode.NO_NODE) throw err;
    }
    if (!watcher || (await conn.exists(root, watcher)) === null) return out;
  }
  const visit = async (parent: string, parentKey: string | null, name: string): Promise<void> => {
    const segment = childKeySegment(name, parent === '/');
    if (segment === null) return;
    const path = childPath(parent, name);
    const key = parentKey === null ? segment : `${parentKey}/${segment}`;
    let got: { data: Buffer | undefined; numChildren: number; children?: string[] };
    try {
      if (watcher) {
        // Both watches are needed on every znode; send both reads at once.
        const [data, names] = await Promise.all([
          conn.getData(path, watcher),
          conn.getChildren(path, watcher),
        ]);
        got = { data: data.data, numChildren: names.length, children: names };
        if (data.data !== undefined) out.push(pairOf(key, data.data, data.stat));
      } else {
        const data = await conn.getData(path);
        got = { data: data.data, numChildren: data.stat.numChildren };
        if (data.data !== undefined) out.push(pairOf(key, data.data, data.stat));
      }
    } catch (err) {
      if (zkCode(err) === ZkCode.NO_NODE) return; // deleted meanwhile; its parent's watch fired
      throw err;
    }
    if (got.numChildren === 0) return;
    const names = got.children ?? (await childrenOrNone(conn, path));
    await Promise.all(names.map((child) => visit(path, key, child)));
  };
  await Promise.all(children.map((name) => visit(root, rootKey, name)));
  return out;
}

async function childrenOrNone(conn: ZkConnection, path: string): Promise<string[]> {
  try {
    return await conn.getChildren(path);
  } catch (err) {
    if (zkCode(err) === ZkCode.NO_NODE) return [];
    throw err;
  }
}
