import { KVError } from '../../store/errors.js';

/** setEntry/deleteEntry on a network this member has not joined (it holds no tables there). */
export class NotOnNetworkError extends KVError {
  constructor(network: string) {
    super('NOT_ON_NETWORK', `not on network ${JSON.stringify(network)}: joinNetwork first`);
  }
}
