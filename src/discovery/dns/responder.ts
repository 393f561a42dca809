import type { Forwarder } from './forwarder.js';
import { canonicalName } from './names.js';
import { type NameRecord, RecordTable } from './records.js';
import {
  type AnswerRecord,
  encodeAnswer,
  encodeOpt,
  finishReply,
  MAX_TCP_BYTES,
  parseQuery,
  type Query,
  Rcode,
  replyHead,
  udpLimit,
} from './wire.js';

export type Transport = 'udp' | 'tcp';

/** Encoded answers kept at most (a flood of distinct names evicts the oldest first). */
export const ANSWER_CACHE_ENTRIES = 50_000;
/** Queries longer than this are answered but not cached (keys stay small). */
const MAX_CACHED_QUERY_BYTES = 512;

/**
 * One encoded reply, kept until the records change: the head (header and question), each answer
 * record (its owner a pointer to the question, so records can be reordered freely), and the OPT
 * record. Every reply shuffles the records (compose#3251: clients sort and cache; shuffle per
 * reply) and keeps as many as fit the limit, setting TC when some are left out — never zero
 * when there are some (consul#1931).
 */
class EncodedReply {
  readonly #head: Buffer;
  readonly #records: Buffer[];
  readonly #tail: Buffer;
  readonly #limit: number;
  /** The whole reply when it never needs shuffling or trimming (at most one record that fits). */
  readonly #fixed: Buffer | null;

  constructor(head: Buffer, records: Buffer[], tail: Buffer, limit: number) {
    this.#head = head;
    this.#records = records;
    this.#tail = tail;
    this.#limit = limit;
    const whole = head.length + tail.length + (records[0]?.length ?? 0);
    this.#fixed = records.length <= 1 && whole <= limit ? Buffer.concat([head, ...records, tail]) : null;
    if (this.#fixed) finishReply(this.#fixed, Buffer.alloc(2), records.length, false);
  }

  render(query: Buffer): Buffer {
    if (this.#fixed) {
      const reply = Buffer.allocUnsafe(this.#fixed.length);
      this.#fixed.copy(reply);
      reply[0] = query[0];
      reply[1] = query[1];
      return reply;
    }
    const records = this.#records;
    const order = records.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let room = this.#limit - this.#head.length - this.#tail.length;
    let kept = 0;
    let bytes = 0;
    for (const i of order) {
      if (records[i].length > room && kept > 0) break;
      room -= records[i].length;
      bytes += records[i].length;
      kept++;
    }
    const reply = Buffer.allocUnsafe(this.#head.length + bytes + this.#tail.length);
    let offset = this.#head.copy(reply);
    for (let k = 0; k < kept; k++) offset += records[order[k]].copy(reply, offset);
    this.#tail.copy(reply, offset);
    finishReply(reply, query, kept, kept < records.length);
    return reply;
  }
}

/**
 * Turns query packets into reply packets: names it owns from the record table, the rest from
 * the forwarder (or NXDOMAIN without one). Local replies are cached encoded, keyed by the query's
 * bytes after its ID (so the question's case and EDNS size are part of the key), and the cache is
 * dropped whenever the table changes: a hit costs a copy, a shuffle and no parsing.
 */
export class Responder {
  readonly #ttlSeconds: number;
  readonly #forwarder: Forwarder | null;
  #table = RecordTable.EMPTY;
  #cache = new Map<string, EncodedReply>();

  constructor(opts: { ttlSeconds: number; forwarder: Forwarder | null }) {
    this.#ttlSeconds = opts.ttlSeconds;
    this.#forwarder = opts.forwarder;
  }

  get table(): RecordTable {
    return this.#table;
  }

  /** Replaces the records; answers from now on come from `table`. */
  setTable(table: RecordTable): void {
    this.#table = table;
    this.#cache = new Map();
  }

  /** The reply to a packet: at once when local, later when forwarded, null to stay silent. */
  answer(packet: Buffer, transport: Transport): Buffer | Promise<Buffer | null> | null {
    const key =
      packet.length <= MAX_CACHED_QUERY_BYTES && packet.length >= 12
        ? (transport === 'udp' ? 'u' : 't') + packet.toString('latin1', 2)
        : null;
    const hit = key === null ? undefined : this.#cache.get(key);
    if (hit) return hit.render(packet);
    const parsed = parseQuery(packet);
    if (parsed.kind === 'drop') return null;
    if (parsed.kind === 'error') {
      const reply = replyHead(parsed.flags, null, { rcode: parsed.rcode }, 0);
      finishReply(reply, packet, 0, false);
      return reply;
    }
    const { query } = parsed;
    const local = this.#local(query, transport);
    if (local === null) return this.#forward(packet, query, transport);
    if (key !== null) {
      if (this.#cache.size >= ANSWER_CACHE_ENTRIES)
        this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(key, local);
    }
    return local.render(packet);
  }

  /** The reply from our own records, or null when the name is not ours and a forwarder exists. */
  #local(query: Query, transport: Transport): EncodedReply | null {
    const limit = transport === 'udp' ? udpLimit(query) : MAX_TCP_BYTES;
    const tail = query.edns ? encodeOpt(Math.min(limit, 4096), query.edns.version > 0) : Buffer.alloc(0);
    const head = (rcode: number, authoritative: boolean) =>
      replyHead(
        query.flags,
        query.questionBytes,
        { rcode, authoritative, recursionAvailable: this.#forwarder !== null },
        tail.length > 0 ? 1 : 0,
      );
    if (query.edns && query.edns.version > 0)
      return new EncodedReply(head(Rcode.NOERROR, false), [], tail, limit);
    const name = canonicalName(query.name);
    const found = this.#table.lookup(name);
    if (found)
      return new EncodedReply(head(Rcode.NOERROR, true), this.#addressRecords(found, query), tail, limit);
    const pointers = this.#table.reverse(name);
    if (pointers) {
      const records = query.type === 'PTR' ? pointers.map((data) => this.#record({ type: 'PTR', data })) : [];
      return new EncodedReply(head(Rcode.NOERROR, true), records, tail, limit);
    }
    if (this.#forwarder) return null;
    return new EncodedReply(head(Rcode.NXDOMAIN, false), [], tail, limit);
  }

  /** A for A, AAAA for AAAA (none for a name with only IPv4: NOERROR, never forwarded, moby#35118), both for ANY. */
  #addressRecords(found: NameRecord, query: Query): Buffer[] {
    if (query.class !== 'IN' && query.class !== 'ANY') return [];
    const out: Buffer[] = [];
    if (query.type === 'A' || query.type === 'ANY')
      for (const data of found.v4) out.push(this.#record({ type: 'A', data }));
    if (query.type === 'AAAA' || query.type === 'ANY')
      for (const data of found.v6) out.push(this.#record({ type: 'AAAA', data }));
    return out;
  }

  #record(record: Omit<AnswerRecord, 'ttl'>): Buffer {
    return encodeAnswer({ ...record, ttl: this.#ttlSeconds } as AnswerRecord);
  }

  async #forward(packet: Buffer, query: Query, transport: Transport): Promise<Buffer | null> {
    const forwarder = this.#forwarder;
    if (!forwarder) return null;
    const result = await forwarder.forward(packet, query.questionBytes, transport);
    if (result.kind === 'answer') return result.reply;
    const rcode = result.kind === 'busy' ? Rcode.REFUSED : Rcode.SERVFAIL;
    const reply = replyHead(query.flags, query.questionBytes, { rcode, recursionAvailable: true }, 0);
    finishReply(reply, packet, 0, false);
    return reply;
  }
}
