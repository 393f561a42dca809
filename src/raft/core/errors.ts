/** Stable codes for every error the Raft core throws. */
export type RaftErrorCode =
  /** Storage: the requested index is below the first index (compacted into a snapshot). */
  | 'COMPACTED'
  /** Storage: the requested index is beyond the last index. */
  | 'UNAVAILABLE'
  /** Storage: a snapshot is being built; the core retries later. */
  | 'SNAPSHOT_TEMPORARILY_UNAVAILABLE'
  /** propose/readIndex: no known leader, a leadership transfer is running, or forwarding is disabled. */
  | 'PROPOSAL_DROPPED'
  /** proposeConfChange: another change is pending, the leader has not committed in its term, or the change is invalid. */
  | 'CONF_CHANGE_REJECTED'
  /** A configuration or an input is invalid (bad config value, message not for this node...). */
  | 'INVALID_ARGUMENT';

export class RaftError extends Error {
  override readonly name = 'RaftError';
  constructor(
    readonly code: RaftErrorCode,
    message: string,
  ) {
    super(message);
  }
}
