import { InvalidArgumentError } from '../store/errors.js';
import { TASK_STATES, type TaskState } from './types.js';

const ORDER = new Map<string, number>(TASK_STATES.map((state, i) => [state, i]));

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && ORDER.has(value);
}

/** True when a task in `from` may move to `to`: states only move forward (or stay). */
export function canAdvance(from: TaskState, to: TaskState): boolean {
  return (ORDER.get(to) ?? -1) >= (ORDER.get(from) ?? Number.POSITIVE_INFINITY);
}

/** Throws INVALID_ARGUMENT naming both states when `to` would move a task backwards. */
export function checkAdvance(taskId: string, from: TaskState, to: TaskState): void {
  if (!isTaskState(to)) throw new InvalidArgumentError(`unknown task state ${JSON.stringify(to)}`);
  if (!canAdvance(from, to)) {
    throw new InvalidArgumentError(
      `task ${taskId} cannot move from ${from} back to ${to}: states only move forward`,
    );
  }
}
