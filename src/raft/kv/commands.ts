import { Packr } from 'msgpackr';

/**
 * Commands of the replicated key space. Each one is applied by every replica in log order;
 * nothing in them depends on a clock: TTL expiry is a `leaseRevoke` the leader proposes.
 */
export type KvCommand =
  | { op: 'put'; key: string; value: Uint8Array; ttlMs?: number }
  /** Compare-and-swap: `prev` 0 = create only; else the key's current revision must equal it. */
  | { op: 'cas'; key: string; value: Uint8Array; prev: number; ttlMs?: number }
  | { op: 'del'; key: string }
  /** Compare-and-delete on the key's revision. */
  | { op: 'cad'; key: string; prev: number }
  | { op: 'delTree'; dir: string }
  | { op: 'leaseGrant'; ttlMs: number }
  | { op: 'leaseKeepAlive'; lease: number }
  | { op: 'leaseRevoke'; lease: number }
  /** Joins the lock's queue (or takes it when free); `owner` names this waiter uniquely. */
  | { op: 'lockAcquire'; key: string; value: Uint8Array; lease: number; owner: string }
  /** Leaves the lock: releases it when held by `owner`, or leaves the queue. */
  | { op: 'lockRelease'; key: string; owner: string }
  /** Forgets watch history at or below `revision`. */
  | { op: 'compact'; revision: number }
  /**
   * The leader's wall clock (ms since the epoch), proposed now and then: client sessions
   * idle for longer than the session idle time, on this clock, expire (Raft thesis §6.3:
   * every replica expires sessions at the same log index, never on its own clock).
   */
  | { op: 'clock'; nowMs: number };

/** A command with the client session that sent it (Raft thesis §6.3: at-most-once). */
export interface KvRequest {
  /** Client id; with `seq`, a retried request is answered from the session, not applied twice. */
  client?: string;
  seq?: number;
  cmd: KvCommand;
}

export type KvResult =
  | { ok: true; revision: number; lease?: number; acquired?: boolean }
  | {
      ok: false;
      /**
       * ALREADY_APPLIED: a retry of a request this session applied earlier, whose reply is no
       * longer remembered: it took effect once, and is not applied again; its answer is lost.
       */
      /**
       * INVALID_ARGUMENT: the entry is not a command this version knows (undecodable bytes, an
       * unknown op, a field of the wrong type): refused, identically on every replica, and
       * nothing changes.
       */
      code:
        | 'KEY_EXISTS'
        | 'KEY_MODIFIED'
        | 'KEY_NOT_FOUND'
        | 'LEASE_NOT_FOUND'
        | 'ALREADY_APPLIED'
        | 'INVALID_ARGUMENT';
      revision: number;
    };

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRequest(request: KvRequest): Uint8Array {
  return packr.pack(request);
}

export function decodeRequest(bytes: Uint8Array): KvRequest {
  return packr.unpack(bytes) as KvRequest;
}

/** A log entry that is not a well-formed command (the message says what is wrong). */
export class InvalidCommandError extends Error {
  readonly code = 'INVALID_ARGUMENT';
}

/**
 * Decodes a request and checks its shape: a known op with every field of the right type,
 * and a session (`client`, `seq`) that is either complete or absent. Throws
 * InvalidCommandError otherwise. Only types and ranges are checked, nothing a later version
 * might tighten: a replica replaying old entries must decide exactly as the replicas that
 * applied them first (key rules are enforced where requests arrive, before they are proposed).
 */
export function parseRequest(bytes: Uint8Array): KvRequest {
  let raw: unknown;
  try {
    raw = packr.unpack(bytes);
  } catch (err) {
    throw new InvalidCommandError(`undecodable command (${bytes.byteLength} bytes)`, { cause: err });
  }
  if (!isRecord(raw)) throw new InvalidCommandError('command is not a map');
  const { client, seq } = raw;
  if ((client === undefined) !== (seq === undefined)) {
    throw new InvalidCommandError('client and seq come together');
  }
  if (client !== undefined && (typeof client !== 'string' || !isCount(seq) || seq === 0)) {
    throw new InvalidCommandError('client must be a string and seq a positive integer');
  }
  return client === undefined
    ? { cmd: checkCommand(raw.cmd) }
    : { client: client as string, seq: seq as number, cmd: checkCommand(raw.cmd) };
}

/** Field checks of each op: `s` string, `b` bytes, `n` non-negative integer, `t` optional TTL. */
const FIELDS: Record<KvCommand['op'], Record<string, 's' | 'b' | 'n' | 't'>> = {
  put: { key: 's', value: 'b', ttlMs: 't' },
  cas: { key: 's', value: 'b', prev: 'n', ttlMs: 't' },
  del: { key: 's' },
  cad: { key: 's', prev: 'n' },
  delTree: { dir: 's' },
  leaseGrant: { ttlMs: 'n' },
  leaseKeepAlive: { lease: 'n' },
  leaseRevoke: { lease: 'n' },
  lockAcquire: { key: 's', value: 'b', lease: 'n', owner: 's' },
  lockRelease: { key: 's', owner: 's' },
  compact: { revision: 'n' },
  clock: { nowMs: 'n' },
};

function checkCommand(cmd: unknown): KvCommand {
  if (!isRecord(cmd)) throw new InvalidCommandError('cmd is not a map');
  const op = cmd.op;
  if (typeof op !== 'string' || !Object.hasOwn(FIELDS, op)) {
    throw new InvalidCommandError(`unknown op ${JSON.stringify(String(op)).slice(0, 40)}`);
  }
  for (const [field, kind] of Object.entries(FIELDS[op as KvCommand['op']])) {
    const v = cmd[field];
    const ok =
      kind === 's'
        ? typeof v === 'string'
        : kind === 'b'
          ? v instanceof Uint8Array
          : kind === 'n'
            ? isCount(v)
            : v === undefined || (isCount(v) && v > 0);
    if (!ok) throw new InvalidCommandError(`${op}: bad ${field}`);
  }
  return cmd as unknown as KvCommand;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export { packr as kvPackr };
