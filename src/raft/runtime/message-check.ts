import type { Entry, Message } from '../core/index.js';

/**
 * Checks that a value is a well-formed core message before the core sees it: every field
 * of its type present with the right type and in range, and an append's entries contiguous
 * from `prevIndex + 1`, their terms never decreasing and never above the message's term.
 * The core trusts what it is given (a malformed append could corrupt its log), so whatever
 * arrives from a socket (or a buggy merge of messages) goes through here first.
 * Returns why the message is malformed, or null.
 */
export function malformedMessage(m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const msg = m as Record<string, unknown>;
  if (typeof msg.type !== 'string') return 'no type';
  if (typeof msg.from !== 'string' || typeof msg.to !== 'string')
    return `${msg.type}: from/to must be strings`;
  if (!isIndex(msg.term)) return `${msg.type}: bad term`;
  const ints = (...names: string[]) => names.find((n) => !isIndex(msg[n]));
  const bools = (...names: string[]) => names.find((n) => typeof msg[n] !== 'boolean');
  const field = (name: string | undefined) => (name === undefined ? null : `${msg.type}: bad ${name}`);
  switch (msg.type) {
    case 'vote':
    case 'preVote':
      return field(ints('lastLogIndex', 'lastLogTerm') ?? bools('transfer'));
    case 'voteResp':
    case 'preVoteResp':
      return field(bools('reject'));
    case 'app':
      return field(ints('prevIndex', 'prevTerm', 'commit')) ?? malformedEntries(msg);
    case 'appResp':
      return field(ints('index', 'rejectHint', 'rejectTerm') ?? bools('reject'));
    case 'heartbeat':
      return field(ints('commit', 'readContext'));
    case 'heartbeatResp':
      return field(ints('readContext'));
    case 'snap': {
      const bad = field(ints('offset', 'totalSize'));
      if (bad) return bad;
      if (!(msg.chunk instanceof Uint8Array)) return 'snap: chunk must be bytes';
      if ((msg.offset as number) + msg.chunk.byteLength > (msg.totalSize as number))
        return 'snap: chunk past totalSize';
      return malformedMetadata(msg.metadata);
    }
    case 'snapResp':
      return field(ints('index', 'nextOffset', 'chunkOffset'));
    case 'timeoutNow':
      return null;
    case 'prop': {
      const entries = msg.entries;
      if (!Array.isArray(entries) || entries.length === 0) return 'prop: entries must be a non-empty array';
      for (const e of entries as Partial<Entry>[]) {
        if (typeof e !== 'object' || e === null || !isEntryType(e.type) || !(e.data instanceof Uint8Array)) {
          return 'prop: bad entry';
        }
      }
      return null;
    }
    case 'readIndex':
      return typeof msg.requestId === 'string' ? null : 'readIndex: bad requestId';
    case 'readIndexResp':
      if (typeof msg.requestId !== 'string') return 'readIndexResp: bad requestId';
      return Number.isSafeInteger(msg.index) && (msg.index as number) >= -1
        ? null
        : 'readIndexResp: bad index';
    case 'transferLeader':
      return typeof msg.transferee === 'string' ? null : 'transferLeader: bad transferee';
    default:
      return `unknown message type ${JSON.stringify(msg.type).slice(0, 40)}`;
  }
}

/** Narrows after `malformedMessage(m) === null`. */
export function isWellFormedMessage(m: unknown): m is Message {
  return malformedMessage(m) === null;
}

function malformedEntries(msg: Record<string, unknown>): string | null {
  const entries = msg.entries;
  if (!Array.isArray(entries)) return 'app: entries must be an array';
  let index = msg.prevIndex as number;
  let term = msg.prevTerm as number;
  for (const e of entries as Partial<Entry>[]) {
    if (typeof e !== 'object' || e === null) return 'app: bad entry';
    if (!isIndex(e.index) || !isIndex(e.term) || !isEntryType(e.type) || !(e.data instanceof Uint8Array)) {
      return `app: bad entry after index ${index}`;
    }
    if (e.index !== index + 1) return `app: entry ${e.index} follows ${index} (entries must be contiguous)`;
    if (e.term < term || e.term > (msg.term as number)) {
      return `app: entry ${e.index} has term ${e.term} after term ${term} (message term ${msg.term})`;
    }
    index = e.index;
    term = e.term;
  }
  return null;
}

function malformedMetadata(meta: unknown): string | null {
  const m = meta as { index?: unknown; term?: unknown; confState?: { voters?: unknown; learners?: unknown } };
  if (typeof m !== 'object' || m === null || !isIndex(m.index) || !isIndex(m.term))
    return 'snap: bad metadata';
  const conf = m.confState;
  const ids = (v: unknown) => Array.isArray(v) && v.every((id) => typeof id === 'string');
  if (typeof conf !== 'object' || conf === null || !ids(conf.voters) || !ids(conf.learners)) {
    return 'snap: bad configuration';
  }
  return null;
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isEntryType(v: unknown): boolean {
  return v === 'normal' || v === 'confChange';
}
