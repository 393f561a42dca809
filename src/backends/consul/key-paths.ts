/**
 * Which keys may travel in a URL path. Consul's HTTP router cleans paths the Go way: `a//b`,
 * `a/./b` and `a/../b` are answered with a redirect to another key. Such keys (rare, but valid
 * in kvkit) are read through `/v1/txn`, whose keys travel in the JSON body, and watched through
 * their nearest clean ancestor directory.
 */

/** An empty segment (other than a trailing one), or a `.` or `..` segment. */
const UNCLEAN = /^\/|\/\/|(?:^|\/)\.{1,2}(?:\/|$)/;

/** True when `key` (or a directory ending in `/`) reaches Consul unchanged as `/v1/kv/<key>`. */
export function servesByPath(key: string): boolean {
  return !UNCLEAN.test(key);
}

/** The longest directory above `key` that serves by path ('' is the root). */
export function cleanAncestor(key: string): string {
  const segments = key.split('/');
  const bad = firstUncleanSegment(key);
  const keep = bad === -1 ? segments.length - 1 : bad;
  return keep === 0 ? '' : `${segments.slice(0, keep).join('/')}/`;
}

/** Index of the first segment the Go path cleaner would rewrite, or -1. A trailing '' is kept. */
function firstUncleanSegment(key: string): number {
  const segments = key.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const trailing = i === segments.length - 1 && i > 0;
    if ((s === '' && !trailing) || s === '.' || s === '..') return i;
  }
  return -1;
}
