import {
  BackendError,
  InvalidArgumentError,
  type KVError,
  PermissionDeniedError,
  ValueTooLargeError,
} from '../../store/errors.js';
import type { HttpAnswer } from './http.js';

/** An HTTP answer a call did not expect, kept as the `cause` of the KVError it maps to. */
export class ConsulAnswerError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(what: string, answer: HttpAnswer, clean: (text: string) => string) {
    const body = clean(answer.body.toString('utf8').trim().slice(0, 500));
    super(`consul ${what}: HTTP ${answer.status}${body ? ` ${body}` : ''}`);
    this.name = 'ConsulAnswerError';
    this.status = answer.status;
    this.body = body;
  }
}

/** Consul answers 500 with these while it has no leader (or is losing one): nothing was applied. */
export function isNoLeader(answer: HttpAnswer): boolean {
  if (answer.status !== 500) return false;
  return /no cluster leader|no leader|not ready to serve consistent reads|leadership lost/i.test(
    answer.body.toString('utf8'),
  );
}

/** The agent answered but cannot serve the call now: another endpoint may. */
export function isUnavailable(answer: HttpAnswer): boolean {
  return isNoLeader(answer) || answer.status === 502 || answer.status === 503 || answer.status === 504;
}

/**
 * Maps an answer the call did not expect to the contract's errors; the answer is the cause.
 * `clean` takes secrets out of what the server said before any message is built.
 */
export function answerError(answer: HttpAnswer, what: string, clean: (text: string) => string): KVError {
  const cause = new ConsulAnswerError(what, answer, clean);
  if (answer.status === 403) {
    return new PermissionDeniedError(`consul ${what}: permission denied (check the ACL token)`, { cause });
  }
  if (answer.status === 413) {
    // Over the agent's kv_max_value_size: the store was told a larger maxValueBytes than the agent allows.
    return new ValueTooLargeError(
      `consul ${what}: the agent refused the request as too large (${cause.body}); ` +
        "the store's maxValueBytes is above the agent's limits.kv_max_value_size",
    );
  }
  if (answer.status === 400)
    return new InvalidArgumentError(`consul rejected ${what}: ${cause.body}`, { cause });
  return new BackendError(cause.message, { cause });
}
