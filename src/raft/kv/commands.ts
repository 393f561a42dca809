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
  | { op: 'compact'; revision: number };

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
      code: 'KEY_EXISTS' | 'KEY_MODIFIED' | 'KEY_NOT_FOUND' | 'LEASE_NOT_FOUND' | 'ALREADY_APPLIED';
      revision: number;
    };

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRequest(request: KvRequest): Uint8Array {
  return packr.pack(request);
}

export function decodeRequest(bytes: Uint8Array): KvRequest {
  return packr.unpack(bytes) as KvRequest;
}

export { packr as kvPackr };
