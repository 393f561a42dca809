/**
 * Where kvkit's data lives in a Redis database. A kvkit key is the Redis key of the same name
 * (UTF-8), so `redis-cli HGET app/config value` reads `app/config`. kvkit keys never start with
 * `/` (the contract strips it), so kvkit's own keys do: they can never collide with a caller's.
 */

/** The revision counter every change takes its `lastIndex` from. */
export const REVISION_COUNTER = '/kvkit/revision';

/** kvkit works on database 0 (keyspace channels name the database). */
const DB = 0;
const KEYSPACE = `__keyspace@${DB}__:`;

/** True for the keys kvkit keeps for itself (never listed, never deleted by deleteTree). */
export function isInternalKey(key: string): boolean {
  return key.startsWith('/');
}

/** The channel Redis publishes a key's changes on (`notify-keyspace-events` with K). */
export function keyspaceChannel(key: string): string {
  return KEYSPACE + key;
}

/** The pattern matching the keyspace channels of every key under `dir` ('' for all). */
export function keyspacePattern(dir: string): string {
  return `${KEYSPACE}${escapeGlob(dir)}*`;
}

/** The key a keyspace channel is about. */
export function keyOfChannel(channel: string): string {
  return channel.startsWith(KEYSPACE) ? channel.slice(KEYSPACE.length) : channel;
}

/** A SCAN MATCH pattern for every key under `dir`. */
export function scanPattern(dir: string): string {
  return `${escapeGlob(dir)}*`;
}

/** `text` with Redis glob specials (`* ? [ ] \`) escaped, so it matches itself only. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
