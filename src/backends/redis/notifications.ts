import { BackendError, isKVError, PermissionDeniedError } from '../../store/errors.js';
import { replyCode } from './redis-errors.js';

/**
 * The `notify-keyspace-events` classes kvkit's watches need: K (keyspace channels), g (del,
 * expire, rename), h (hash writes: kvkit's own), $ (string writes: other clients), x (expired),
 * e (evicted under maxmemory). Redis publishes nothing by default.
 */
export const REQUIRED_KEYSPACE_EVENTS = 'Kgh$xe';
/** `A` in the setting stands for all of `g$lshzxetd`. */
const ALL_CLASSES = 'g$lshzxetd';

/** What is missing from a `notify-keyspace-events` value for kvkit's watches ('' when nothing). */
export function missingKeyspaceEvents(flags: string): string {
  const has = (c: string) => flags.includes(c) || (flags.includes('A') && ALL_CLASSES.includes(c));
  return [...REQUIRED_KEYSPACE_EVENTS].filter((c) => !has(c)).join('');
}

type Send = (args: string[]) => Promise<unknown>;

const checked = new WeakMap<object, Promise<void>>();

/**
 * Makes sure the server publishes the keyspace events watches need, once per connection (a
 * restarted server forgets a CONFIG SET, so every new connection checks again): adds the
 * missing classes with CONFIG SET, keeping the ones already set. A server that may not be read
 * (CONFIG denied or renamed, as on managed services) is trusted to be configured as
 * docs/backends/redis.md says; one that lacks them and may not be changed fails the watch.
 */
export function ensureKeyspaceEvents(connection: object, send: Send): Promise<void> {
  let done = checked.get(connection);
  if (!done) {
    done = check(send);
    checked.set(connection, done);
    done.catch(() => checked.delete(connection));
  }
  return done;
}

async function check(send: Send): Promise<void> {
  let flags: string;
  try {
    flags = configValue(await send(['CONFIG', 'GET', 'notify-keyspace-events']));
  } catch (err) {
    if (replyCode(err) === 'NOPERM' || replyCode(err) === 'ERR') return;
    throw err;
  }
  const missing = missingKeyspaceEvents(flags);
  if (missing === '') return;
  try {
    await send(['CONFIG', 'SET', 'notify-keyspace-events', flags + missing]);
  } catch (err) {
    const message =
      `redis publishes no keyspace events for watches (notify-keyspace-events is ${JSON.stringify(flags)}, ` +
      `watches need ${REQUIRED_KEYSPACE_EVENTS}) and this connection may not change it: set ` +
      `notify-keyspace-events ${REQUIRED_KEYSPACE_EVENTS} in the server's configuration`;
    if (isKVError(err) || replyCode(err) !== 'NOPERM') throw new BackendError(message, { cause: err });
    throw new PermissionDeniedError(message, { cause: err });
  }
}

/** The value of a CONFIG GET reply: a map in RESP3, a [name, value] array in RESP2. */
function configValue(reply: unknown): string {
  if (Array.isArray(reply)) return String(reply[1] ?? '');
  if (reply instanceof Map) return String([...reply.values()][0] ?? '');
  if (reply && typeof reply === 'object') return String(Object.values(reply)[0] ?? '');
  return '';
}
