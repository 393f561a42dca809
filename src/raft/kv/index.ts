export {
  decodeRequest,
  encodeRequest,
  InvalidCommandError,
  type KvCommand,
  type KvRequest,
  type KvResult,
  parseRequest,
} from './commands.js';
export { KeyIndex } from './key-index.js';
export { LeaderLeaseClock } from './leader-lease-clock.js';
export { CLOCK_EVERY_MS, LeaseExpiryClock } from './lease-expiry.js';
export {
  type KvEvent,
  KvStateMachine,
  type KvStateMachineOptions,
  type LeaseEvent,
} from './state-machine.js';

import { KvStateMachine, type KvStateMachineOptions } from './state-machine.js';

/** The replicated key space every kvkit Raft node runs. */
export function createKvStateMachine(options?: KvStateMachineOptions): KvStateMachine {
  return new KvStateMachine(options);
}
