/**
 * The pure gossip core: SWIM membership with Lifeguard and NetworkDB-style tables, driven by
 * packets, streams and ticks. See docs/gossip.md.
 */
export { BroadcastQueue } from './broadcast-queue.js';
export { WireError } from './bytes.js';
export {
  GOSSIP_DEFAULTS,
  type GossipConfig,
  pushPullScaleMs,
  retransmitLimit,
  suspicionTimeoutMs,
} from './config.js';
export {
  type CoreEvent,
  type CoreOutput,
  type CoreStats,
  type EntryEventType,
  GossipCore,
  type GossipCoreOptions,
  type MemberInfo,
  type NetworkStats,
  type OutPacket,
  type OutStream,
} from './core.js';
export { NotOnNetworkError } from './errors.js';
export { MAX_KEY_BYTES, MAX_NAME_BYTES, MAX_STREAM_FRAME_BYTES, MAX_VALUE_BYTES } from './limits.js';
export {
  decodePacket,
  encodeMessage,
  type MemberStateName,
  PacketBuilder,
  type PacketMsg,
} from './messages.js';
export type { AttachmentRecord, MemberRecord, QueryWhat } from './streams.js';
