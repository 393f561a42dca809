/**
 * Keeps secrets out of messages, logs and CLI output: store URLs are shown with their
 * credentials (`user:pass@`, `password=`, `token=`) replaced by `***`.
 */

export const REDACTED = '***';

/** Query parameters whose values are secrets. */
const SECRET_PARAMS = /([?&](?:password|token|secret|key|passphrase)=)[^&#\s]*/gi;
/** `scheme://user:pass@host` or `scheme://token@host`. */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi;

/** A URL (or any text containing URLs) with credentials replaced by `***`. */
export function redactUrl(text: string): string {
  return text.replace(USERINFO, `$1${REDACTED}@`).replace(SECRET_PARAMS, `$1${REDACTED}`);
}

/** `text` with every occurrence of each given secret (and any URL credentials) replaced by `***`. */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = redactUrl(text);
  for (const secret of secrets) {
    if (secret && secret.length >= 1) out = out.split(secret).join(REDACTED);
  }
  return out;
}
