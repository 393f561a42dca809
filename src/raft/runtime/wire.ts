/** The peer-port handshake: the first frame on every connection, and the answer to it. */

export const PEER_PROTOCOL_VERSION = 1;

/** Sent by the node that opens a connection; its messages follow once welcomed. */
export interface Hello {
  kind: 'hello';
  version: number;
  /** The sender's cluster id; null for a node that has not joined yet. */
  cluster: string | null;
  from: string;
  to: string;
  /** The sender's peer address, so a node that just joined can answer a leader it never heard of. */
  addr: string;
}

export type HelloReply = { kind: 'welcome' } | { kind: 'refuse'; reason: string };

export function isHello(v: unknown): v is Hello {
  const h = v as Hello;
  return (
    typeof h === 'object' &&
    h !== null &&
    h.kind === 'hello' &&
    typeof h.from === 'string' &&
    typeof h.to === 'string' &&
    typeof h.addr === 'string' &&
    (h.cluster === null || typeof h.cluster === 'string')
  );
}
