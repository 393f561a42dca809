import { InvalidArgumentError } from '../store/errors.js';
import type { Node } from './types.js';

/**
 * Placement constraints, swarmkit's syntax (manager/constraint/constraint.go): `KEY==VALUE` or
 * `KEY!=VALUE` with KEY one of `node.id`, `node.hostname`, `node.labels.<label>`. Keys and the
 * `node.id`/`node.hostname` values compare case-insensitively, label names exactly, and values
 * case-insensitively (as swarmkit's `strings.EqualFold`). A node without the label has the
 * empty value: `==` fails on it and `!=` holds.
 */
export interface Constraint {
  /** As given, for messages. */
  text: string;
  attribute: 'id' | 'hostname' | 'label';
  /** The label name for `label`. */
  label: string;
  equal: boolean;
  value: string;
}

/** Largest number of constraints on one service, and the longest one. */
export const MAX_CONSTRAINTS = 64;
const MAX_CONSTRAINT_CHARS = 512;
const EXPRESSION = /^\s*([A-Za-z0-9_.\-/]+)\s*(==|!=)\s*(\S(?:.*\S)?)\s*$/;
const VALUE = /^[A-Za-z0-9_.\-*:/@]+$/;

/** Parses one constraint; INVALID_ARGUMENT naming it when malformed or on an unknown key. */
export function parseConstraint(text: unknown): Constraint {
  if (typeof text !== 'string' || text.length > MAX_CONSTRAINT_CHARS) {
    throw new InvalidArgumentError(`invalid constraint ${preview(text)}: expected KEY==VALUE or KEY!=VALUE`);
  }
  const match = EXPRESSION.exec(text);
  if (!match) {
    throw new InvalidArgumentError(
      `invalid constraint ${JSON.stringify(text)}: expected KEY==VALUE or KEY!=VALUE`,
    );
  }
  const [, key, operator, value] = match;
  if (!VALUE.test(value)) {
    throw new InvalidArgumentError(
      `invalid constraint ${JSON.stringify(text)}: the value may hold letters, digits and _ . - * : / @`,
    );
  }
  const lower = key.toLowerCase();
  const equal = operator === '==';
  if (lower === 'node.id') return { text, attribute: 'id', label: '', equal, value };
  if (lower === 'node.hostname') return { text, attribute: 'hostname', label: '', equal, value };
  if (lower.startsWith('node.labels.') && key.length > 'node.labels.'.length) {
    return { text, attribute: 'label', label: key.slice('node.labels.'.length), equal, value };
  }
  throw new InvalidArgumentError(
    `invalid constraint ${JSON.stringify(text)}: unsupported key ${JSON.stringify(key)} (use node.id, node.hostname or node.labels.NAME)`,
  );
}

/** Parses a service's constraints, refusing the first malformed one by name. */
export function parseConstraints(list: unknown): Constraint[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new InvalidArgumentError('constraints must be a list of strings');
  if (list.length > MAX_CONSTRAINTS) {
    throw new InvalidArgumentError(`at most ${MAX_CONSTRAINTS} constraints, got ${list.length}`);
  }
  return list.map(parseConstraint);
}

/** True when the node meets the constraint. */
export function meetsConstraint(node: Node, constraint: Constraint): boolean {
  let actual: string;
  switch (constraint.attribute) {
    case 'id':
      actual = node.id;
      break;
    case 'hostname':
      actual = node.hostname;
      break;
    default:
      actual = Object.hasOwn(node.labels, constraint.label) ? node.labels[constraint.label] : '';
  }
  const same = actual.toLowerCase() === constraint.value.toLowerCase();
  return constraint.equal ? same : !same;
}

function preview(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
