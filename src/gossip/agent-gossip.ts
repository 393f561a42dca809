/**
 * A Swarm agent's gossip member (what dockerd's NetworkDB is on a Swarm node): named after the
 * node, on the networks the node runs tasks on, publishing one endpoint_table entry per running
 * task and network. The agent feeds it its running tasks; everything else is here.
 */

import { parseEndpoint } from '../store/endpoints.js';
import { InvalidArgumentError } from '../store/errors.js';
import { withTimeout } from '../store/signals.js';
import type { Store } from '../store/types.js';
import type { GossipConfig } from './core/config.js';
import { type Gossip, startGossip } from './runtime/gossip.js';
import { checkKeys } from './runtime/keyring.js';
import { type GossipTask, TaskPublisher } from './service-records.js';
import { followGossipKeys, readGossipKeys } from './store-keyring.js';

/** Docker's gossip port (TCP and UDP 7946), used when an address has no port. */
export const GOSSIP_PORT = 7946;

/**
 * How an agent takes part in gossip, in Docker Swarm's terms: every node listens on 7946 (UDP
 * and TCP) and joins the cluster through nodes already in it.
 */
export interface AgentGossipOptions {
  /** `HOST[:PORT]` to listen on, UDP and TCP; port 7946 when omitted, 0 picks a free one. */
  bind: string;
  /** `HOST:PORT` others reach this member at. Default: the bound address (required for 0.0.0.0). */
  advertise?: string;
  /** Members already in the cluster (`HOST[:PORT]`), up to 3 contacted. Omitted: this node starts it. */
  join?: string[];
  /**
   * AES-GCM keys (16 or 32 bytes), primary first, kept as given. Omitted: the keyring the
   * managers keep in the Store, read before the member starts and followed through every
   * rotation (plain traffic while there is none).
   */
  keys?: Uint8Array[];
  /** Protocol timings (memberlist LAN defaults); tests shorten them. */
  config?: Partial<GossipConfig>;
  /** How long the join may take (ms). Default 10000. */
  joinTimeoutMs?: number;
  /** Reports of the member (refused packets, malformed input). Default: the agent's onError. */
  logger?: (line: string) => void;
}

/** How long close() waits for the last entries to go out before leaving anyway. */
const FLUSH_TIMEOUT_MS = 5_000;

/** Checks the options where they arrive, before the agent registers anything. */
export function checkAgentGossipOptions(opts: unknown): AgentGossipOptions {
  if (opts === null || typeof opts !== 'object')
    throw new InvalidArgumentError('gossip must be an object: { bind, join?, keys? }');
  const o = opts as AgentGossipOptions;
  if (typeof o.bind !== 'string') throw new InvalidArgumentError('gossip.bind must be "HOST[:PORT]"');
  parseEndpoint(o.bind, GOSSIP_PORT, { listening: true });
  if (o.advertise !== undefined) parseEndpoint(o.advertise, GOSSIP_PORT);
  if (o.join !== undefined) {
    if (!Array.isArray(o.join)) throw new InvalidArgumentError('gossip.join must be a list of "HOST[:PORT]"');
    for (const addr of o.join) parseEndpoint(addr, GOSSIP_PORT);
  }
  if (o.keys !== undefined) checkKeys(o.keys);
  return o;
}

/** The agent's member and the publisher of its running tasks. */
export class AgentGossip {
  private readonly stopKeys = new AbortController();
  private following: Promise<void> = Promise.resolve();

  private constructor(
    readonly gossip: Gossip,
    private readonly publisher: TaskPublisher,
  ) {}

  /**
   * Starts the member named `name` (the node id) and joins the cluster; rejects NOT_REACHABLE if
   * no address answers. Without `keys`, its keys are the Store's (`keyStore`, under `prefix`).
   */
  static async start(
    name: string,
    opts: AgentGossipOptions,
    onError: (err: unknown) => void,
    keyStore?: { store: Store; prefix: string },
  ): Promise<AgentGossip> {
    const o = checkAgentGossipOptions(opts);
    const follow = o.keys === undefined ? keyStore : undefined;
    const keys = follow ? await readGossipKeys(follow.store, follow.prefix) : (o.keys ?? null);
    const gossip = await startGossip({
      name,
      bind: o.bind,
      ...(o.advertise !== undefined ? { advertise: o.advertise } : {}),
      ...(o.join !== undefined && o.join.length > 0 ? { join: o.join } : {}),
      ...(keys ? { keys } : {}),
      ...(o.config !== undefined ? { config: o.config } : {}),
      ...(o.joinTimeoutMs !== undefined ? { joinTimeoutMs: o.joinTimeoutMs } : {}),
      logger: o.logger ?? ((line) => onError(new Error(line))),
    });
    const member = new AgentGossip(gossip, new TaskPublisher(gossip, onError));
    if (follow) {
      member.following = followGossipKeys(follow.store, (k) => gossip.setKeys(k), {
        signal: member.stopKeys.signal,
        prefix: follow.prefix,
        onError,
      });
    }
    return member;
  }

  /** The node's running tasks now (synchronous; writes are queued, the latest set wins). */
  update(tasks: readonly GossipTask[]): void {
    this.publisher.update(tasks);
  }

  /** Resolves once every update so far is written. */
  flushed(): Promise<void> {
    return this.publisher.flushed();
  }

  /** Publishes the last (usually empty) task set, then leaves the cluster: others drop our entries at once. */
  async leave(): Promise<void> {
    this.stopKeys.abort();
    await this.following;
    try {
      await withTimeout(this.publisher.flushed(), FLUSH_TIMEOUT_MS, 'the last gossip entries');
    } catch {
      // Leaving removes our entries everywhere anyway.
    }
    await this.gossip.leave();
  }
}
