import { RaftError } from './errors.js';
import { createRng, hashSeed } from './rng.js';
import type { RaftConfig, RaftStorage, Rng } from './types.js';

/** Defaults for every optional `RaftConfig` field (documented on the field). */
export const RAFT_DEFAULTS = {
  electionTick: 10,
  heartbeatTick: 1,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  maxCommittedSizePerReady: 16 * 1024 * 1024,
  snapshotChunkSize: 1024 * 1024,
  maxInflightSnapshotBytes: 8 * 1024 * 1024,
  preVote: true,
  checkQuorum: true,
  disableProposalForwarding: false,
} as const;

/** A `RaftConfig` with every default filled in and every value validated. */
export interface ResolvedRaftConfig {
  id: string;
  storage: RaftStorage;
  rng: Rng;
  electionTick: number;
  electionJitterTick: number;
  heartbeatTick: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxCommittedSizePerReady: number;
  snapshotChunkSize: number;
  maxInflightSnapshotBytes: number;
  preVote: boolean;
  checkQuorum: boolean;
  applied: number | null;
  disableProposalForwarding: boolean;
}

export function resolveConfig(config: RaftConfig): ResolvedRaftConfig {
  const electionTick = config.electionTick ?? RAFT_DEFAULTS.electionTick;
  const resolved: ResolvedRaftConfig = {
    id: config.id,
    storage: config.storage,
    rng: config.rng ?? createRng(hashSeed(config.id)),
    electionTick,
    electionJitterTick: config.electionJitterTick ?? electionTick - 1,
    heartbeatTick: config.heartbeatTick ?? RAFT_DEFAULTS.heartbeatTick,
    maxSizePerMsg: config.maxSizePerMsg ?? RAFT_DEFAULTS.maxSizePerMsg,
    maxInflightMsgs: config.maxInflightMsgs ?? RAFT_DEFAULTS.maxInflightMsgs,
    maxCommittedSizePerReady: config.maxCommittedSizePerReady ?? RAFT_DEFAULTS.maxCommittedSizePerReady,
    snapshotChunkSize: config.snapshotChunkSize ?? RAFT_DEFAULTS.snapshotChunkSize,
    maxInflightSnapshotBytes: config.maxInflightSnapshotBytes ?? RAFT_DEFAULTS.maxInflightSnapshotBytes,
    preVote: config.preVote ?? RAFT_DEFAULTS.preVote,
    checkQuorum: config.checkQuorum ?? RAFT_DEFAULTS.checkQuorum,
    applied: config.applied ?? null,
    disableProposalForwarding: config.disableProposalForwarding ?? RAFT_DEFAULTS.disableProposalForwarding,
  };
  if (typeof resolved.id !== 'string' || resolved.id === '') invalid('id must be a non-empty string');
  if (!isPositiveInt(resolved.heartbeatTick)) invalid('heartbeatTick must be a positive integer');
  if (!isPositiveInt(resolved.electionTick) || resolved.electionTick <= resolved.heartbeatTick) {
    invalid('electionTick must be an integer greater than heartbeatTick');
  }
  if (!Number.isInteger(resolved.electionJitterTick) || resolved.electionJitterTick < 0) {
    invalid('electionJitterTick must be a non-negative integer');
  }
  if (!(resolved.maxSizePerMsg > 0)) invalid('maxSizePerMsg must be positive');
  if (!isPositiveInt(resolved.maxInflightMsgs)) invalid('maxInflightMsgs must be a positive integer');
  if (!(resolved.maxCommittedSizePerReady > 0)) invalid('maxCommittedSizePerReady must be positive');
  if (!isPositiveInt(resolved.snapshotChunkSize)) invalid('snapshotChunkSize must be a positive integer');
  if (!(resolved.maxInflightSnapshotBytes > 0)) invalid('maxInflightSnapshotBytes must be positive');
  return resolved;
}

function isPositiveInt(n: number): boolean {
  return Number.isInteger(n) && n > 0;
}

function invalid(why: string): never {
  throw new RaftError('INVALID_ARGUMENT', `invalid raft config: ${why}`);
}
