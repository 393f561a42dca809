import { inspect } from 'node:util';

/**
 * For tests of every error path that could carry a credential: where in an error (its
 * message, stack, own properties, `cause` chain and AggregateError members, as
 * `util.inspect` would print them to a log) any of `secrets` appears, or any PEM private
 * key. Returns [] when the error is clean.
 *
 * ```ts
 * const err = await failure(() => createStore('etcd://root:hunter2@127.0.0.1:1'));
 * expectNoSecrets(err, ['hunter2']);
 * ```
 */
export function findSecrets(err: unknown, secrets: readonly string[]): string[] {
  const wanted = secrets.filter((s) => s.length > 0);
  const found: string[] = [];
  const check = (where: string, text: string) => {
    for (const secret of wanted) if (text.includes(secret)) found.push(`${where} contains ${mask(secret)}`);
    if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text)) found.push(`${where} contains a PEM private key`);
  };
  const seen = new Set<unknown>();
  const visit = (value: unknown, where: string, depth: number) => {
    if (value === null || value === undefined || seen.has(value) || depth > 8) return;
    seen.add(value);
    if (typeof value !== 'object') {
      check(where, String(value));
      return;
    }
    if (value instanceof Error) {
      check(`${where}.message`, value.message);
      check(`${where}.stack`, value.stack ?? '');
      visit(value.cause, `${where}.cause`, depth + 1);
      if (value instanceof AggregateError) {
        for (const [i, e] of value.errors.entries()) visit(e, `${where}.errors[${i}]`, depth + 1);
      }
    }
    // What a logger prints: own properties (a backend's `options`, a server's reply), nested.
    check(`inspect(${where})`, inspect(value, { depth: 8, showHidden: false }));
  };
  visit(err, 'error', 0);
  return [...new Set(found)];
}

/** Throws, listing every place a secret appeared, unless {@link findSecrets} finds none. */
export function expectNoSecrets(err: unknown, secrets: readonly string[]): void {
  const found = findSecrets(err, secrets);
  if (found.length > 0) throw new Error(`a secret leaked into an error:\n  ${found.join('\n  ')}`);
}

/** A secret named in a test failure without printing it whole. */
function mask(secret: string): string {
  return secret.length <= 2 ? '"**"' : `"${secret[0]}…${secret.at(-1)}" (${secret.length} chars)`;
}
