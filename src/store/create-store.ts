import { redactAddress } from '../secrets/redact.js';
import { MAX_TIMER_STEP_MS } from '../time/long-timeout.js';
import { BackendNotSupportedError, InvalidArgumentError } from './errors.js';
import { findBackend, registeredSchemes } from './registry.js';
import type { Store, StoreOptions } from './types.js';

/** Query parameters every store URL may carry; a backend registers its own beyond these. */
const COMMON_PARAMS = ['prefix', 'token', 'username', 'password', 'connectTimeoutMs', 'maxValueBytes'];

/**
 * Opens a store from a URL or options:
 * `memory:` (private), `memory://NAME` (shared in-process), `local:///abs/dir`,
 * `etcd://[user:pass@]host:port[,host:port]`, `consul://host:port`, `zk://host:port`,
 * `raft://host:port,...`, and `NAME://…` of any backend added with `registerBackend`.
 * URL query parameters: `prefix`, `token`, `username`, `password`, `connectTimeoutMs`,
 * `maxValueBytes`, plus those the backend registered. An unknown scheme rejects with
 * BACKEND_NOT_SUPPORTED naming the available ones; a malformed URL with INVALID_ARGUMENT
 * showing it with its credentials replaced by `***`.
 */
export async function createStore(target: string | StoreOptions): Promise<Store> {
  const options = typeof target === 'string' ? parseStoreUrl(target) : checkStoreOptions(target);
  const backend = findBackend(options.backend);
  return backend.factory({ ...options, backend: backend.name });
}

/** Parses a store URL into options; throws INVALID_ARGUMENT naming the (redacted) URL when malformed. */
export function parseStoreUrl(url: string): StoreOptions {
  if (typeof url !== 'string')
    throw new InvalidArgumentError(`a store URL must be a string, got ${typeof url}`);
  const shown = JSON.stringify(redactAddress(url));
  const bad = (why: string): InvalidArgumentError => new InvalidArgumentError(`${why}: ${shown}`);
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(url);
  if (!match) throw bad('not a store URL (expected scheme:...)');
  const scheme = match[1].toLowerCase();
  let backend: ReturnType<typeof findBackend>;
  try {
    backend = findBackend(scheme);
  } catch {
    throw new BackendNotSupportedError(
      `unknown store scheme ${JSON.stringify(scheme)} in ${shown}; available: ${registeredSchemes().join(', ')}`,
    );
  }
  const rest = match[2];
  const q = rest.indexOf('?');
  const body = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);

  let authority = '';
  let path = body;
  if (body.startsWith('//')) {
    const slash = body.indexOf('/', 2);
    authority = slash < 0 ? body.slice(2) : body.slice(2, slash);
    path = slash < 0 ? '' : body.slice(slash);
  }
  if (path === '/') path = '';
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const hosts = at < 0 ? authority : authority.slice(at + 1);

  const options: StoreOptions = { backend: backend.name };
  if (hosts !== '') options.endpoints = hosts.split(',').map((e) => e.trim());
  if (options.endpoints?.some((e) => e === '')) throw bad('empty host in the host list');
  if (path !== '') {
    try {
      options.path = decodeURIComponent(path);
    } catch (err) {
      throw new InvalidArgumentError(`bad percent-encoding in the path of ${shown}`, { cause: err });
    }
  }
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    try {
      options.username = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
      if (colon >= 0) options.password = decodeURIComponent(userinfo.slice(colon + 1));
    } catch {
      throw bad('bad percent-encoding in the credentials');
    }
  }

  switch (backend.url) {
    case 'hosts':
      if (!options.endpoints) throw bad(`${scheme} store URL needs host:port`);
      if (options.path !== undefined) throw bad(`${scheme} store URL takes no path`);
      break;
    case 'path':
      if (options.endpoints || userinfo !== undefined || !options.path?.startsWith('/')) {
        throw bad(`${scheme} store needs an absolute path (${scheme}:///abs/dir)`);
      }
      break;
    case 'name':
      if (options.path !== undefined || (options.endpoints?.length ?? 0) > 1 || userinfo !== undefined) {
        throw bad(`${scheme} store URL takes at most a name (${scheme}://NAME)`);
      }
      break;
    case 'any':
      break;
  }

  const params = new URLSearchParams(query);
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) throw bad(`query parameter ${name} given twice`);
    seen.add(name);
    if (COMMON_PARAMS.includes(name)) {
      applyCommonParam(options, name, value, bad);
    } else if (backend.params.includes(name)) {
      options.params = { ...options.params, [name]: value };
    } else {
      const known = [...COMMON_PARAMS, ...backend.params].join(', ');
      throw bad(`unknown query parameter ${JSON.stringify(name)} (${scheme} takes ${known})`);
    }
  }
  return checkStoreOptions(options, shown);
}

function applyCommonParam(
  options: StoreOptions,
  name: string,
  value: string,
  bad: (why: string) => InvalidArgumentError,
): void {
  switch (name) {
    case 'prefix':
      options.prefix = value;
      return;
    case 'token':
      options.token = value;
      return;
    case 'username':
    case 'password':
      if (options[name] !== undefined) throw bad(`${name} given both before @ and as a query parameter`);
      options[name] = value;
      return;
    case 'connectTimeoutMs':
    case 'maxValueBytes':
      if (!/^\d+$/.test(value)) throw bad(`bad ${name} (a whole number expected)`);
      options[name] = Number(value);
      return;
  }
}

/**
 * Checks the options every backend shares (types and bounds; secrets are never shown).
 * `shown` names the URL they came from in errors.
 */
export function checkStoreOptions(options: StoreOptions, shown?: string): StoreOptions {
  if (!options || typeof options !== 'object' || typeof options.backend !== 'string') {
    throw new InvalidArgumentError('createStore needs a URL or options with a backend');
  }
  const where = shown === undefined ? '' : ` in ${shown}`;
  const { endpoints, prefix, connectTimeoutMs, maxValueBytes } = options;
  if (
    endpoints !== undefined &&
    (!Array.isArray(endpoints) || endpoints.some((e) => typeof e !== 'string'))
  ) {
    throw new InvalidArgumentError('endpoints must be an array of host:port strings');
  }
  if (prefix !== undefined && typeof prefix !== 'string')
    throw new InvalidArgumentError('prefix must be a string');
  for (const name of ['username', 'password', 'token'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'string') {
      throw new InvalidArgumentError(`${name} must be a string`);
    }
  }
  if (
    connectTimeoutMs !== undefined &&
    (typeof connectTimeoutMs !== 'number' ||
      !Number.isFinite(connectTimeoutMs) ||
      connectTimeoutMs <= 0 ||
      connectTimeoutMs > MAX_TIMER_STEP_MS)
  ) {
    throw new InvalidArgumentError(
      `bad connectTimeoutMs ${String(connectTimeoutMs)}${where}: a number of ms in (0, ${MAX_TIMER_STEP_MS}]`,
    );
  }
  if (
    maxValueBytes !== undefined &&
    (typeof maxValueBytes !== 'number' || !Number.isSafeInteger(maxValueBytes) || maxValueBytes < 1)
  ) {
    throw new InvalidArgumentError(
      `bad maxValueBytes ${String(maxValueBytes)}${where}: a positive whole number`,
    );
  }
  return { ...options };
}
