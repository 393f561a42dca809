import type { Message } from './types.js';

/**
 * Messages a runtime may send before the Ready that carries them is persisted: the leader's
 * replication traffic. They promise nothing about this node's disk, since the leader counts
 * its own entries toward commit only after `advance` (Raft thesis §10.2.1). Everything else
 * (votes, acknowledgements, forwards) waits for the write.
 */
export function sendableBeforePersist(message: Message): boolean {
  return message.type === 'app' || message.type === 'heartbeat' || message.type === 'snap';
}
