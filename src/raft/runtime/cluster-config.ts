import { createHash } from 'node:crypto';
import { parseEndpoint } from '../../store/endpoints.js';
import { InvalidArgumentError } from '../../store/errors.js';
import { type Entry, encodeConfChange } from '../core/index.js';
import { encodeMemberContext } from './member-book.js';

/** Members of a new cluster: node id → peer address. */
export type InitialCluster = Record<string, string>;

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkNodeId(id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new InvalidArgumentError(
      `node id ${JSON.stringify(id)} is invalid: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return id;
}

/** Parses `n1=host:port,n2=host:port` (or takes the object form) and validates it. */
export function parseInitialCluster(input: string | InitialCluster): InitialCluster {
  const pairs: [string, string][] =
    typeof input === 'string'
      ? input
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map((item) => {
            const eq = item.indexOf('=');
            if (eq <= 0)
              throw new InvalidArgumentError(
                `initial cluster item ${JSON.stringify(item)}: expected id=host:port`,
              );
            return [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
          })
      : Object.entries(input);
  if (pairs.length === 0) throw new InvalidArgumentError('initial cluster is empty');
  const out: InitialCluster = {};
  for (const [id, addr] of pairs) {
    checkNodeId(id);
    if (id in out) throw new InvalidArgumentError(`initial cluster lists ${id} twice`);
    if (!/:\d+$/.test(addr)) throw new InvalidArgumentError(`initial cluster: ${id}=${addr} has no port`);
    parseEndpoint(addr, 0); // throws on a malformed address
    out[id] = addr;
  }
  const addrs = Object.values(out);
  if (new Set(addrs).size !== addrs.length)
    throw new InvalidArgumentError('initial cluster lists one address twice');
  return out;
}

/** The canonical text of a member list: sorted by id. */
export function formatInitialCluster(cluster: InitialCluster): string {
  return Object.keys(cluster)
    .sort()
    .map((id) => `${id}=${cluster[id]}`)
    .join(',');
}

/** A cluster id every bootstrap member derives alike from the member list. */
export function deriveClusterId(cluster: InitialCluster): string {
  return createHash('sha256')
    .update(`kvkit-raft/1\n${formatInitialCluster(cluster)}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * The first log entries of a new cluster, identical on every bootstrap member: one
 * `addVoter` per member (term 1), already committed. A server that joins later replays
 * them from the leader and so learns the whole membership and every address.
 */
export function bootstrapEntries(cluster: InitialCluster): Entry[] {
  return Object.keys(cluster)
    .sort()
    .map((id, i) => ({
      term: 1,
      index: i + 1,
      type: 'confChange' as const,
      data: encodeConfChange({
        type: 'addVoter',
        nodeId: id,
        context: encodeMemberContext({ peerAddr: cluster[id], clientAddr: null }),
      }),
    }));
}
