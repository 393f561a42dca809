/**
 * kvkit's Raft consensus core: a deterministic state machine with no I/O, in the style of
 * etcd-io/raft. See docs/raft-core.md for the design and the runtime's obligations.
 */
export { applyConfChange, decodeConfChange, encodeConfChange } from './conf-change.js';
export { RAFT_DEFAULTS } from './config.js';
export { entrySize } from './entry.js';
export { RaftError, type RaftErrorCode } from './errors.js';
export { RaftInvariantError } from './invariant.js';
export { bootstrapSnapshot, MemoryRaftStorage } from './memory-storage.js';
export { RaftCore } from './raft.js';
export { sendableBeforePersist } from './ready-order.js';
export { createRng } from './rng.js';
export type * from './types.js';
