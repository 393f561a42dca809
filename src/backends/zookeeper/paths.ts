/**
 * Keys ↔ znode paths. A key `a/b` is the znode `/a/b`, so data written by kvkit is where a
 * ZooKeeper user looks for it. What ZooKeeper forbids in a path is escaped, one segment at a time:
 *
 * - an empty segment (a trailing slash `a/b/`, or `a//b`) is the znode name `%`: `a/b/` → `/a/b/%`;
 * - `.` and `..` (relative names) become `%2E` and `%2E%2E`;
 * - `%` and the characters ZooKeeper rejects (U+0001–U+001F, U+007F–U+009F, U+D800–U+F8FF,
 *   U+FFF0–U+FFFF, which covers every surrogate) become `%XX` (code unit ≤ 0xFF) or `%uXXXX`;
 * - a first segment `zookeeper` (ZooKeeper's own subtree) becomes `%7Aookeeper`.
 *
 * Decoding accepts only names in exactly this form, so znode names kvkit would never write
 * (`%lock` queues, foreign names like `%zz`) are not keys and stay out of lists and watches.
 */

/** Name of the znode that stands for an empty segment. */
const EMPTY_SEGMENT = '%';
/** Suffix of the hidden sibling that holds a lock key's queue of contenders. */
const LOCK_QUEUE_SUFFIX = '%lock';

/** The znode path of a normalised key: `a/b` → `/a/b`. */
export function keyToPath(key: string): string {
  if (needsNoEscape(key)) return `/${key}`;
  const segments = key.split('/');
  let path = '';
  for (let i = 0; i < segments.length; i++) path += `/${encodeSegment(segments[i], i === 0)}`;
  return path;
}

/**
 * The znode under which the keys of a normalised directory prefix live: `a/b/` → `/a/b`,
 * '' → `/`. Every key under the prefix is a strict descendant of it, and every key-named
 * descendant is under the prefix.
 */
export function dirToPath(dir: string): string {
  return dir === '' ? '/' : keyToPath(dir.slice(0, -1));
}

/** The key a znode path stands for, or null when some segment is not in kvkit's form. */
export function pathToKey(path: string): string | null {
  if (path.length < 2 || path[0] !== '/') return null;
  const segments = path.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const decoded = decodeSegment(segments[i], i === 0);
    if (decoded === null) return null;
    segments[i] = decoded;
  }
  return segments.join('/');
}

/** The key segment a child znode name stands for, or null (see {@link pathToKey}). */
export function childKeySegment(name: string, underRoot: boolean): string | null {
  return decodeSegment(name, underRoot);
}

export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The parent znode path; '/' for a top-level znode. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The ancestors of a znode path from the top down, without '/' and without the path itself. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/', 1); i !== -1; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

/** The hidden sibling znode holding the contenders for the lock on the znode `path`. */
export function lockQueuePath(path: string): string {
  return path + LOCK_QUEUE_SUFFIX;
}

/** True for ZooKeeper's own subtree, which is never a kvkit key. */
export function isZookeeperSystemPath(path: string): boolean {
  return path === '/zookeeper' || path.startsWith('/zookeeper/');
}

/** True when no segment of the key needs escaping: the common case, checked in one pass. */
function needsNoEscape(key: string): boolean {
  let start = 0;
  for (let i = 0; i <= key.length; i++) {
    const c = i < key.length ? key.charCodeAt(i) : 0x2f;
    if (c !== 0x2f) {
      if (mustEscape(c)) return false;
      continue;
    }
    const length = i - start;
    if (length === 0) return false;
    if (
      key.charCodeAt(start) === 0x2e &&
      (length === 1 || (length === 2 && key.charCodeAt(start + 1) === 0x2e))
    ) {
      return false;
    }
    start = i + 1;
  }
  return !(key.startsWith('zookeeper') && (key.length === 9 || key[9] === '/'));
}

export function encodeSegment(segment: string, first: boolean): string {
  if (segment === '') return EMPTY_SEGMENT;
  if (segment === '.') return '%2E';
  if (segment === '..') return '%2E%2E';
  if (first && segment === 'zookeeper') return '%7Aookeeper';
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (!mustEscape(c)) continue;
    out += segment.slice(plainFrom, i) + escapeUnit(c);
    plainFrom = i + 1;
  }
  return plainFrom === 0 ? segment : out + segment.slice(plainFrom);
}

function decodeSegment(name: string, first: boolean): string | null {
  if (name === EMPTY_SEGMENT) return '';
  let decoded = name;
  if (name.includes('%')) {
    decoded = '';
    for (let i = 0; i < name.length; i++) {
      if (name[i] !== '%') {
        decoded += name[i];
        continue;
      }
      const wide = name[i + 1] === 'u';
      const hex = wide ? name.slice(i + 2, i + 6) : name.slice(i + 1, i + 3);
      if (!/^[0-9A-F]+$/.test(hex) || hex.length !== (wide ? 4 : 2)) return null;
      decoded += String.fromCharCode(Number.parseInt(hex, 16));
      i += wide ? 5 : 2;
    }
  }
  // Only the canonical spelling is a key, so one key never has two znodes.
  return encodeSegment(decoded, first) === name ? decoded : null;
}

/** Characters ZooKeeper's path validation rejects, plus our escape character. */
function mustEscape(c: number): boolean {
  return c === 0x25 || c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || c >= 0xfff0;
}

function escapeUnit(c: number): string {
  const hex = c.toString(16).toUpperCase();
  return c <= 0xff ? `%${hex.padStart(2, '0')}` : `%u${hex.padStart(4, '0')}`;
}
