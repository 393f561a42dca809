import type { ClientRequest } from '../backends/raft/protocol.js';
import { decodeRequest, encodeRequest, type KvCommand, type KvRequest } from '../raft/kv/index.js';
import { checkNodeId } from '../raft/runtime/cluster-config.js';
import { InvalidArgumentError, KVError } from '../store/errors.js';
import { normalizeKey, normalizePrefix } from '../store/keys.js';
import { checkTtlMs, checkValueSize } from '../store/limits.js';

/**
 * The client port's input rules: every request a node receives on its client port is decoded
 * and checked here, by the rules the Store API applies (key rules of src/store/keys.ts, value
 * and TTL bounds of src/store/limits.ts, known operations, argument types), before anything
 * reaches the replica. A bad request gets the typed error the Store API would give
 * (INVALID_KEY, VALUE_TOO_LARGE, INVALID_ARGUMENT) and never reaches the log.
 */

/** What the checks depend on: the node's value limit. */
export interface RequestLimits {
  maxValueBytes: number;
}

/** The longest a client may ask the node to work on one request (its own deadline is shorter). */
const MAX_REQUEST_TIMEOUT_MS = 60_000;
/** Client ids are UUIDs; owners of lock waits are client id + counter. */
const MAX_ID_CHARS = 256;

/** A request that cannot be answered (no id): the connection is protocol-broken. */
export class ClientProtocolError extends KVError {
  constructor(message: string) {
    super('PROTOCOL_ERROR', message);
  }
}

/** The id a reply would carry, or a ClientProtocolError when there is none to answer. */
export function requestIdOf(raw: unknown): number {
  const id = (raw as { id?: unknown } | null)?.id;
  if (typeof raw !== 'object' || raw === null || !isCount(id)) {
    throw new ClientProtocolError('a request without a numeric id');
  }
  return id;
}

/**
 * Checks one decoded request and returns it rebuilt from its checked fields only (a `submit`
 * carries its command re-encoded from the checked command). Throws the typed error to reply.
 */
export function checkClientRequest(raw: unknown, limits: RequestLimits): ClientRequest {
  const id = requestIdOf(raw);
  const r = raw as Record<string, unknown>;
  switch (r.op) {
    case 'hello':
    case 'status':
    case 'members':
      return { id, op: r.op };
    case 'submit': {
      if (!(r.request instanceof Uint8Array)) throw bad('submit: request must be bytes');
      const timeoutMs = r.timeoutMs === undefined ? 2000 : positive(r.timeoutMs, 'submit timeoutMs');
      const request = checkKvRequest(decodeCommand(r.request), limits);
      return {
        id,
        op: 'submit',
        request: encodeRequest(request),
        timeoutMs: Math.min(timeoutMs, MAX_REQUEST_TIMEOUT_MS),
      };
    }
    case 'get':
      if (r.consistent !== undefined && typeof r.consistent !== 'boolean')
        throw bad('get: consistent must be a boolean');
      return { id, op: 'get', key: normalizeKey(r.key as string), consistent: r.consistent !== false };
    case 'list':
      return { id, op: 'list', dir: normalizePrefix(r.dir as string) };
    case 'watch': {
      if ((r.key === undefined) === (r.dir === undefined)) throw bad('watch: give a key or a dir');
      const after = r.after === undefined ? undefined : count(r.after, 'watch after');
      return r.key !== undefined
        ? { id, op: 'watch', key: normalizeKey(r.key as string), after }
        : { id, op: 'watch', dir: normalizePrefix(r.dir as string), after };
    }
    case 'cancel':
      return { id, op: 'cancel', target: count(r.target, 'cancel target') };
    case 'lockWait':
      return {
        id,
        op: 'lockWait',
        key: normalizeKey(r.key as string),
        owner: name(r.owner, 'lockWait owner'),
        lease: count(r.lease, 'lockWait lease'),
      };
    case 'lockHolder':
      return { id, op: 'lockHolder', key: normalizeKey(r.key as string) };
    case 'addMember': {
      const m = r.member as { id?: unknown; peerAddr?: unknown; clientAddr?: unknown } | null;
      if (typeof m !== 'object' || m === null) throw bad('addMember: member must be an object');
      if (typeof m.peerAddr !== 'string' || !/^[^\s]{1,255}:\d{1,5}$/.test(m.peerAddr)) {
        throw bad('addMember: peerAddr must be host:port');
      }
      if (
        m.clientAddr !== null &&
        m.clientAddr !== undefined &&
        (typeof m.clientAddr !== 'string' || m.clientAddr.length > 300)
      ) {
        throw bad('addMember: clientAddr must be host:port or null');
      }
      return {
        id,
        op: 'addMember',
        member: {
          id: checkNodeId(m.id),
          peerAddr: m.peerAddr,
          clientAddr: (m.clientAddr as string | undefined) ?? null,
        },
      };
    }
    case 'removeMember':
      return { id, op: 'removeMember', nodeId: checkNodeId(r.nodeId) };
    default:
      throw bad(
        `unknown operation ${typeof r.op === 'string' ? JSON.stringify(r.op.slice(0, 40)) : typeof r.op}`,
      );
  }
}

/** A replicated key-space command as a client may send it: its session, and a checked command. */
export function checkKvRequest(raw: unknown, limits: RequestLimits): KvRequest {
  if (typeof raw !== 'object' || raw === null) throw bad('the command is not a request object');
  const r = raw as Record<string, unknown>;
  const client = name(r.client, 'client id');
  const seq = count(r.seq, 'seq');
  if (seq === 0) throw bad('seq must be at least 1');
  return { client, seq, cmd: checkCommand(r.cmd, limits) };
}

function checkCommand(raw: unknown, limits: RequestLimits): KvCommand {
  if (typeof raw !== 'object' || raw === null) throw bad('cmd must be an object');
  const c = raw as Record<string, unknown>;
  const key = () => normalizeKey(c.key as string);
  const value = () => {
    if (!(c.value instanceof Uint8Array)) throw bad(`${c.op as string}: value must be bytes`);
    checkValueSize(c.value, limits.maxValueBytes);
    return c.value;
  };
  const ttl = () =>
    c.ttlMs === undefined || c.ttlMs === null ? undefined : Math.max(1, checkTtlMs(c.ttlMs));
  switch (c.op) {
    case 'put':
      return { op: 'put', key: key(), value: value(), ttlMs: ttl() };
    case 'cas':
      return { op: 'cas', key: key(), value: value(), prev: count(c.prev, 'cas prev'), ttlMs: ttl() };
    case 'del':
      return { op: 'del', key: key() };
    case 'cad':
      return { op: 'cad', key: key(), prev: count(c.prev, 'cad prev') };
    case 'delTree':
      return { op: 'delTree', dir: normalizePrefix(c.dir as string) };
    case 'leaseGrant':
      return { op: 'leaseGrant', ttlMs: Math.max(1, checkTtlMs(c.ttlMs, 'lease ttl')) };
    case 'leaseKeepAlive':
    case 'leaseRevoke':
      return { op: c.op, lease: count(c.lease, `${c.op} lease`) };
    case 'lockAcquire':
      return {
        op: 'lockAcquire',
        key: key(),
        value: value(),
        lease: count(c.lease, 'lockAcquire lease'),
        owner: name(c.owner, 'lockAcquire owner'),
      };
    case 'lockRelease':
      return { op: 'lockRelease', key: key(), owner: name(c.owner, 'lockRelease owner') };
    case 'compact':
      return { op: 'compact', revision: count(c.revision, 'compact revision') };
    default:
      throw bad(
        `unknown command ${typeof c.op === 'string' ? JSON.stringify(c.op.slice(0, 40)) : typeof c.op}`,
      );
  }
}

function decodeCommand(bytes: Uint8Array): unknown {
  try {
    return decodeRequest(bytes);
  } catch (err) {
    throw new InvalidArgumentError('submit: the command is not decodable', { cause: err });
  }
}

function bad(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** A whole number >= 0. */
function count(v: unknown, what: string): number {
  if (!isCount(v)) throw bad(`${what} must be a whole number >= 0, got ${show(v)}`);
  return v;
}

function show(v: unknown): string {
  return typeof v === 'number' ? String(v) : typeof v;
}

function positive(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(`${what} must be a positive number`);
  return v;
}

/** A non-empty identifier string of bounded length. */
function name(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_CHARS) {
    throw bad(`${what} must be a string of 1-${MAX_ID_CHARS} characters`);
  }
  return v;
}
