/**
 * Service discovery's public shapes on one screen: node discovery (Docker's kv discovery),
 * leader election (docker/leadership's Candidate and Follower) and the DNS server's options.
 */

export interface DiscoveryOptions {
  /** Where node keys (`<prefix>/nodes/<addr>`) and election keys live. Default `docker`. */
  prefix?: string;
}

export interface RegisterOptions {
  /**
   * How often this process checks that its key is still in the store and puts it back if an
   * operator or a store failure removed it (ms). Default 20000, as dockerd.
   */
  heartbeatMs?: number;
  /** How long the key outlives a process that died (ms); must be greater than heartbeatMs. Default 60000. */
  ttlMs?: number;
  /** Errors after the first registration (it is retried with backoff); default: ignored. */
  onError?: (err: unknown) => void;
}

/** A node registration; `close()` deletes the key at once (a clean leave). */
export interface Registration extends AsyncDisposable {
  readonly addr: string;
  /** The store key kept alive: `<prefix>/nodes/<addr>`. */
  readonly key: string;
  close(): Promise<void>;
}

export interface WatchNodesOptions {
  /** Ends the watch. */
  signal?: AbortSignal;
  /** Store errors; the watch retries with backoff and resumes after each. */
  onError?: (err: unknown) => void;
}

export interface CampaignOptions {
  /** How long the leadership outlives a leader that died (ms). Default: the store's lock TTL (15000). */
  ttlMs?: number;
  /** Aborting resigns (if leader) and ends the campaign. */
  signal?: AbortSignal;
  /** Store errors while campaigning; the campaign retries with backoff. */
  onError?: (err: unknown) => void;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Store errors; following retries with backoff and resumes after each. */
  onError?: (err: unknown) => void;
}
