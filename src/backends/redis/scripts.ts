import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind every change kvkit makes on Redis: each runs atomically on the server
 * (EVALSHA, EVAL when the server has not cached it yet), so a compare-and-swap and the revision
 * it takes are one step. Layout (docs/backends/redis.md): a kvkit key is a Redis hash with the
 * fields `value` and `rev`; `rev` comes from one counter, so it grows across keys and across
 * delete and re-create. A plain Redis string at a key (written by another client, e.g.
 * `redis-cli SET`) is read as that key's value and adopted: rewritten as the hash with a new
 * revision, its TTL kept, so every change still gets a greater `lastIndex`.
 */
export interface RedisScript {
  name: string;
  source: string;
  sha1: string;
}

/** Script results that are not a revision (revisions are > 0). */
export const SCRIPT_EXISTS = -1;
export const SCRIPT_MODIFIED = -2;
export const SCRIPT_NOT_FOUND = -3;
/** `read` of a key that holds something kvkit did not write (a list, a set, a foreign hash). */
export const SCRIPT_FOREIGN = -4;

// A revision above the caller's floor (the highest it has seen): a counter lost with the data
// (a restart without persistence, FLUSHALL) never hands out a revision a caller already saw.
const NEXT_REV = `
local function next_rev(counter, floor)
  local rev = redis.call('INCR', counter)
  if rev <= floor then
    rev = floor + 1
    redis.call('SET', counter, rev)
  end
  return rev
end
local function write(key, value, rev, ttl)
  redis.call('HSET', key, 'value', value, 'rev', rev)
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
end
`;

// {value, rev, pttl} for a kvkit key, false when absent, SCRIPT_FOREIGN for other data.
const READ = `
local function read(key, counter, floor)
  local t = redis.call('TYPE', key).ok
  if t == 'hash' then
    local r = redis.call('HMGET', key, 'value', 'rev')
    if not r[2] then return ${SCRIPT_FOREIGN} end
    return {r[1] or '', r[2], redis.call('PTTL', key)}
  elseif t == 'string' then
    local v = redis.call('GET', key)
    local pttl = redis.call('PTTL', key)
    local rev = next_rev(counter, floor)
    redis.call('DEL', key)
    write(key, v, rev, pttl)
    return {v, rev, pttl}
  elseif t == 'none' then
    return false
  end
  return ${SCRIPT_FOREIGN}
end
`;

function script(name: string, body: string): RedisScript {
  const source = `-- kvkit ${name}\n${body.trim()}\n`;
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** KEYS: key, counter. ARGV: floor, value, ttlMs (0: none). Returns the new revision. */
export const PUT = script(
  'put',
  `${NEXT_REV}
local rev = next_rev(KEYS[2], tonumber(ARGV[1]))
redis.call('DEL', KEYS[1])
write(KEYS[1], ARGV[2], rev, tonumber(ARGV[3]))
return rev`,
);

/** KEYS: key, counter. ARGV: floor, value, ttlMs. The revision, or SCRIPT_EXISTS. */
export const CREATE = script(
  'create',
  `${NEXT_REV}
if redis.call('EXISTS', KEYS[1]) == 1 then return ${SCRIPT_EXISTS} end
local rev = next_rev(KEYS[2], tonumber(ARGV[1]))
write(KEYS[1], ARGV[2], rev, tonumber(ARGV[3]))
return rev`,
);

/**
 * KEYS: key, counter. ARGV: floor, value, ttlMs, expected revision. The new revision, or
 * SCRIPT_MODIFIED when the key changed, was deleted or was replaced by other data since.
 */
export const SWAP = script(
  'swap',
  `${NEXT_REV}
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return ${SCRIPT_MODIFIED} end
if tonumber(redis.call('HGET', KEYS[1], 'rev')) ~= tonumber(ARGV[4]) then return ${SCRIPT_MODIFIED} end
local rev = next_rev(KEYS[2], tonumber(ARGV[1]))
redis.call('DEL', KEYS[1])
write(KEYS[1], ARGV[2], rev, tonumber(ARGV[3]))
return rev`,
);

/** KEYS: key. ARGV: expected revision. 1, SCRIPT_NOT_FOUND or SCRIPT_MODIFIED. */
export const DELETE_IF = script(
  'delete-if',
  `local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then return ${SCRIPT_NOT_FOUND} end
if t ~= 'hash' then return ${SCRIPT_MODIFIED} end
if tonumber(redis.call('HGET', KEYS[1], 'rev')) ~= tonumber(ARGV[1]) then return ${SCRIPT_MODIFIED} end
redis.call('DEL', KEYS[1])
return 1`,
);

/** KEYS: key, counter. ARGV: floor. {value, rev, pttl}, false, or SCRIPT_FOREIGN. */
export const READ_ONE = script(
  'read',
  `${NEXT_REV}${READ}
return read(KEYS[1], KEYS[2], tonumber(ARGV[1]))`,
);

/** KEYS: key..., counter (last). ARGV: floor. One READ_ONE answer per key. */
export const READ_MANY = script(
  'read-many',
  `${NEXT_REV}${READ}
local counter = KEYS[#KEYS]
local floor = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS - 1 do out[i] = read(KEYS[i], counter, floor) end
return out`,
);

/** KEYS: key.... Unlinks those that hold kvkit values (hashes with `rev`, strings); returns how many. */
export const DELETE_MANY = script(
  'delete-many',
  `local n = 0
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t == 'string' or (t == 'hash' and redis.call('HEXISTS', KEYS[i], 'rev') == 1) then
    n = n + redis.call('UNLINK', KEYS[i])
  end
end
return n`,
);

/** KEYS: key, counter. ARGV: floor, value, ttlMs, owner token. {rev, ttl} when taken, {0, pttl} when held. */
export const LOCK_ACQUIRE = script(
  'lock-acquire',
  `${NEXT_REV}
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('PTTL', KEYS[1])} end
local rev = next_rev(KEYS[2], tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'value', ARGV[2], 'rev', rev, 'owner', ARGV[4])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return {rev, tonumber(ARGV[3])}`,
);

/** KEYS: key. ARGV: owner token, ttlMs. 1 when still ours (TTL restarted), else 0. */
export const LOCK_REFRESH = script(
  'lock-refresh',
  `if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1`,
);

/** KEYS: key. ARGV: owner token. 1 when it was ours and is now deleted, else 0. */
export const LOCK_RELEASE = script(
  'lock-release',
  `if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`,
);

/** KEYS: counter. ARGV: floor. Raises the counter to the floor (after a restart that lost it). */
export const RAISE_COUNTER = script(
  'raise-counter',
  `local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`,
);
