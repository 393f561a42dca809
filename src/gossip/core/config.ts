/**
 * The gossip core's knobs. Membership defaults are memberlist's `DefaultLANConfig`
 * (hashicorp/memberlist config.go); table defaults are libnetwork NetworkDB's
 * (moby daemon/libnetwork/networkdb/cluster.go), except where a known bug says otherwise
 * (each such place names the issue).
 */
export interface GossipConfig {
  /** Time between failure-detection probes (memberlist ProbeInterval). */
  probeIntervalMs: number;
  /** Wait for a direct ack before asking others to probe (memberlist ProbeTimeout). */
  probeTimeoutMs: number;
  /** Members asked to probe indirectly when the direct ping timed out (IndirectChecks). */
  indirectChecks: number;
  /**
   * With the indirect probes, ping the member over TCP too (memberlist's fallback, on unless
   * DisableTcpPings): a member whose UDP is lossy but who is up is not suspected.
   */
  tcpPings: boolean;
  /**
   * Scale every retransmit limit by 1 / (1 − loss), loss estimated from this member's own
   * unanswered direct probes, so that under packet loss each member still receives as many
   * copies of a broadcast as it would without (not in memberlist: at 4,700 members and 20 %
   * loss about one trial in a hundred left a member without any copy until anti-entropy).
   */
  lossAwareRetransmit: boolean;
  /** Suspicion timeout = suspicionMult · max(1, log10 N) · probeInterval (SuspicionMult). */
  suspicionMult: number;
  /** The timeout starts this many times longer and shortens with confirmations (Lifeguard). */
  suspicionMaxTimeoutMult: number;
  /** The local health score stretches probe interval and timeout up to this factor (Lifeguard). */
  awarenessMaxMultiplier: number;
  /** Lifeguard's three parts (local health, dynamic suspicion, buddy system); off = plain SWIM with suspicion. */
  lifeguard: boolean;
  /** Piggy-backed gossip: every gossipInterval, queued messages go to gossipNodes random members. */
  gossipIntervalMs: number;
  gossipNodes: number;
  /** A message is sent retransmitMult · ⌈log10(N + 1)⌉ times by each member that queues it. */
  retransmitMult: number;
  /** Dead members still receive gossip this long, so they can learn it and refute (GossipToTheDeadTime). */
  gossipToTheDeadMs: number;
  /** Full membership state exchange with one random member; scaled up with N above 32 members. */
  pushPullIntervalMs: number;
  /** Members a join exchanges state with at most, at once (never all of them: moby#47396). */
  joinPeers: number;
  /** A dead member is contacted again this often, so healed partitions merge (NetworkDB reconnectNode). */
  reconnectIntervalMs: number;
  /** Dead or left members are forgotten after this long (NetworkDB reapDeadNode: 24 h). */
  forgetMemberAfterMs: number;
  /** Largest UDP payload the core builds, before encryption (1,400 bytes minus 29 for AES-GCM). */
  packetBudgetBytes: number;
  /** Messages queued per broadcast queue (membership, and each network); beyond it the most-sent relays go first. */
  maxQueuedMessages: number;
  /** Tombstones are kept this long, the remaining lifetime travelling with them (libnetwork#1944). */
  tombstoneLifetimeMs: number;
  /** Tombstones and forgotten members are swept this often (NetworkDB reapPeriod). */
  reapIntervalMs: number;
  /** Anti-entropy: each network is synced with one random member of it this often (NetworkDB bulkSyncInterval). */
  bulkSyncIntervalMs: number;
  /** Network members a joinNetwork syncs with at most (bounded, never every peer: moby#47396). */
  networkJoinSyncPeers: number;
  /** Early syncs (after a dropped broadcast or a sync that brought news) are at least this far apart per network. */
  expeditedSyncGapMs: number;
  /** Bytes of records one stream answer carries at most; a larger sync takes several rounds. */
  syncPageBytes: number;
  /** Rounds one sync session may take before it stops (the next periodic sync continues). */
  maxSyncRounds: number;
}

export const GOSSIP_DEFAULTS: Readonly<GossipConfig> = Object.freeze({
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  tcpPings: true,
  lossAwareRetransmit: true,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  awarenessMaxMultiplier: 8,
  lifeguard: true,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  retransmitMult: 4,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  joinPeers: 3,
  reconnectIntervalMs: 60_000,
  forgetMemberAfterMs: 24 * 3600_000,
  packetBudgetBytes: 1400 - 29,
  maxQueuedMessages: 1024,
  tombstoneLifetimeMs: 30 * 60_000,
  reapIntervalMs: 5_000,
  bulkSyncIntervalMs: 30_000,
  networkJoinSyncPeers: 3,
  expeditedSyncGapMs: 1_000,
  syncPageBytes: 512 * 1024,
  maxSyncRounds: 8,
});

/** Times each member retransmits one message in a cluster (or network) of `n` (memberlist retransmitLimit). */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/** Minimum suspicion timeout for `n` members (memberlist suspicionTimeout). */
export function suspicionTimeoutMs(mult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  return Math.round(mult * nodeScale * probeIntervalMs);
}

/** Push-pull interval scaled up with the cluster size above 32 members (memberlist pushPullScale). */
export function pushPullScaleMs(intervalMs: number, n: number): number {
  if (n <= 32) return intervalMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(32)) + 1;
  return intervalMs * multiplier;
}

/** Checks a partial config and fills in defaults; throws RangeError naming the bad field. */
export function resolveConfig(partial: Partial<GossipConfig> = {}): GossipConfig {
  const config = { ...GOSSIP_DEFAULTS, ...partial };
  for (const [name, value] of Object.entries(config)) {
    if (name === 'lifeguard' || name === 'tcpPings' || name === 'lossAwareRetransmit') {
      if (typeof value !== 'boolean') throw new RangeError(`gossip config ${name} must be a boolean`);
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`gossip config ${name} must be a non-negative finite number`);
    }
  }
  if (config.probeTimeoutMs > config.probeIntervalMs)
    throw new RangeError('probeTimeoutMs must not exceed probeIntervalMs');
  if (config.packetBudgetBytes < 512 || config.packetBudgetBytes > 65_000) {
    throw new RangeError('packetBudgetBytes must be within 512..65000');
  }
  if (config.gossipIntervalMs <= 0 || config.probeIntervalMs <= 0)
    throw new RangeError('intervals must be positive');
  return config;
}
