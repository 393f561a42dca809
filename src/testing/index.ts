/** kvkit/testing: tools for checking stores, and systems built on them, from the outside. */

export { InvalidHistoryError, type Op } from './history.js';
export {
  type CheckOptions,
  type CheckResult,
  checkLinearizability,
  InvalidCheckOptionsError,
} from './linearizability.js';
