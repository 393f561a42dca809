import type { NodeId } from './types.js';

/** Smallest number of voters that forms a majority. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index replicated on a majority of `voters`, given each voter's match index.
 * With no voters there is no majority: returns 0.
 */
export function committedIndex(voters: NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[majority(voters.length) - 1];
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Tally of an election among `voters`; `votes` maps voter to granted/rejected. */
export function voteResult(voters: NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

/** Whether the voters for which `isActive` holds form a majority. */
export function hasQuorum(voters: NodeId[], isActive: (id: NodeId) => boolean): boolean {
  return voters.length > 0 && voters.filter(isActive).length >= majority(voters.length);
}
