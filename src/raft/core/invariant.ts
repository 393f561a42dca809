/**
 * Thrown when the core detects a state that Raft's rules make impossible (a bug in the core
 * or a runtime that broke the storage contract). Never caught by the core itself.
 */
export class RaftInvariantError extends Error {
  override readonly name = 'RaftInvariantError';
  readonly code = 'INVARIANT_VIOLATED';
}

export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}
