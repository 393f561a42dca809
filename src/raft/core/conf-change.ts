import { RaftError } from './errors.js';
import type { ConfChange, ConfState, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a conf change as the `data` of a `confChange` entry (UTF-8 JSON: stable and readable). */
export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(
    JSON.stringify({ type: change.type, nodeId: change.nodeId, context: change.context }),
  );
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const raw = JSON.parse(decoder.decode(data)) as Partial<ConfChange>;
  if (
    (raw.type !== 'addLearner' && raw.type !== 'addVoter' && raw.type !== 'removeNode') ||
    typeof raw.nodeId !== 'string'
  ) {
    throw new RaftError('INVALID_ARGUMENT', `not an encoded conf change: ${decoder.decode(data)}`);
  }
  return {
    type: raw.type,
    nodeId: raw.nodeId,
    context: typeof raw.context === 'string' ? raw.context : null,
  };
}

/**
 * The configuration after `change`, or a `CONF_CHANGE_REJECTED` error when the change is a
 * no-op or would leave the cluster without voters. Pure; the inputs are not modified.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== change.nodeId);
  const learners = conf.learners.filter((id) => id !== change.nodeId);
  const isVoter = conf.voters.includes(change.nodeId);
  const isLearner = conf.learners.includes(change.nodeId);
  switch (change.type) {
    case 'addLearner':
      if (isLearner) throw reject(change, 'is already a learner');
      // Demoting a voter to learner would be a second kind of change; remove it first.
      if (isVoter) throw reject(change, 'is a voter');
      learners.push(change.nodeId);
      break;
    case 'addVoter':
      if (isVoter) throw reject(change, 'is already a voter');
      voters.push(change.nodeId);
      break;
    case 'removeNode':
      if (!isVoter && !isLearner) throw reject(change, 'is not a member');
      if (isVoter && voters.length === 0) throw reject(change, 'is the last voter');
      break;
  }
  return { voters: sortIds(voters), learners: sortIds(learners) };
}

export function confStatesEqual(a: ConfState, b: ConfState): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

export function cloneConfState(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}

function sameIds(a: NodeId[], b: NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const sa = sortIds(a);
  const sb = sortIds(b);
  return sa.every((id, i) => id === sb[i]);
}

function sortIds(ids: NodeId[]): NodeId[] {
  return [...ids].sort();
}

function reject(change: ConfChange, why: string): RaftError {
  return new RaftError('CONF_CHANGE_REJECTED', `${change.type} ${change.nodeId}: node ${why}`);
}
