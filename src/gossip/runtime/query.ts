import { parseEndpoint } from '../../store/endpoints.js';
import { InvalidArgumentError, KVError } from '../../store/errors.js';
import { checkName } from '../core/limits.js';
import { decodeAnswer, encodeRequest, type QueryWhat } from '../core/streams.js';
import { checkKeys, Keyring } from './keyring.js';
import { requestFrame } from './transport.js';

export interface GossipQuery {
  what: QueryWhat;
  /** For `entries`: the network, and optionally one table (default: every table). */
  network?: string;
  table?: string;
  /** The cluster's keys (the query is sealed and answered like any gossip stream). */
  keys?: Uint8Array[];
  timeoutMs?: number;
}

/**
 * Asks a gossip member what it sees, over its TCP port, authenticated by the keyring
 * (`kvkit gossip members|networks|entries`). Answers are JSON values: members(), networks()
 * or the entries (values in base64) of a network.
 */
export async function queryGossipMember(addr: string, query: GossipQuery): Promise<unknown> {
  const target = parseEndpoint(addr, 7946);
  if (query.what === 'entries') {
    if (query.network === undefined) throw new InvalidArgumentError('an entries query needs a network');
    checkName('network id', query.network);
  }
  if (query.table !== undefined) checkName('table name', query.table);
  const keyring = new Keyring(query.keys === undefined ? undefined : checkKeys(query.keys));
  const request = encodeRequest({
    kind: 'query',
    what: query.what,
    network: query.network ?? null,
    table: query.table ?? null,
  });
  const frame = await requestFrame(target, keyring.seal(request), keyring, query.timeoutMs ?? 10_000);
  const answer = decodeAnswer(frame);
  if (answer.kind !== 'query')
    throw new KVError('PROTOCOL_ERROR', 'the member answered something else than a query');
  return JSON.parse(answer.json) as unknown;
}
