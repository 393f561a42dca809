/**
 * Keeps secrets out of messages, logs and CLI output: store URLs are shown with their
 * credentials (`user:pass@`, `password=`, `token=`) replaced by `***`, and PEM private keys
 * are cut out of any text.
 */

export const REDACTED = '***';

/**
 * Query parameters whose values are secrets: any name that says password, token, secret,
 * passphrase, credential or key (`password=`, `token=`, `tlsKey=`, `apiKey=`).
 */
const SECRET_PARAMS =
  /([?&;][\w.-]*(?:password|passwd|pwd|token|secret|passphrase|credential|key)[\w.-]*=)[^&#;\s"'`]*/gi;
/** `scheme://user:pass@host`, `scheme://token@host`, and the slash-less `scheme:user:pass@host`. */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:(?:\/\/)?)[^/@\s"'`]+@/gi;
/** A PEM block holding a private key (PKCS#1, PKCS#8, EC, encrypted). */
const PEM_PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g;

/** A URL (or any text containing URLs) with credentials replaced by `***`. */
export function redactUrl(text: string): string {
  return text.replace(USERINFO, `$1${REDACTED}@`).replace(SECRET_PARAMS, `$1${REDACTED}`);
}

/**
 * One store URL or endpoint given alone (`etcd://root:pw@h:1?…`, `root:pw@h:1`, `tok@h:1`):
 * everything before its last `@` is taken for credentials, even when it holds an unescaped
 * `/`, `?` or `:` that would stop {@link redactUrl}; secret query parameters too.
 */
export function redactAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return redactUrl(address);
  const start = /^[a-z][a-z0-9+.-]*:(?:\/\/)?/i.exec(address)?.[0].length ?? 0;
  const head = at < start ? address : `${address.slice(0, start)}${REDACTED}${address.slice(at)}`;
  return redactUrl(head);
}

/**
 * `text` with URL credentials, PEM private keys and every occurrence of each given secret
 * replaced by `***`.
 */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = redactUrl(text).replace(PEM_PRIVATE_KEY, `-----BEGIN $1----- ${REDACTED}`);
  for (const secret of secrets) {
    if (secret && secret.length >= 1) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/**
 * The secrets a store URL carries, whether or not it parses: the password of `user:pass@`
 * (a lone `token@` too) and every secret query parameter, as written and percent-decoded.
 * For redacting them from text that did not come through {@link redactUrl} (a library's error).
 */
export function secretsInUrl(url: string): string[] {
  const found: string[] = [];
  const userinfo = /^[a-z][a-z0-9+.-]*:(?:\/\/)?([^?#]*)@/i.exec(url)?.[1];
  if (userinfo) {
    const colon = userinfo.indexOf(':');
    found.push(colon < 0 ? userinfo : userinfo.slice(colon + 1));
  }
  for (const match of url.matchAll(new RegExp(SECRET_PARAMS.source, 'gi'))) {
    found.push(match[0].slice(match[1].length));
  }
  const withDecoded = found.flatMap((secret) => {
    try {
      return [secret, decodeURIComponent(secret.replace(/\+/g, ' '))];
    } catch {
      return [secret];
    }
  });
  return [...new Set(withDecoded.filter((s) => s.length > 0))];
}
