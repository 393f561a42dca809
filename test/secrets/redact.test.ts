import { describe, expect, it } from 'vitest';
import { redactSecrets, redactUrl } from '../../src/secrets/redact.js';

describe('redactUrl', () => {
  it('hides user:pass@ in a store URL', () => {
    expect(redactUrl('etcd://root:hunter2@127.0.0.1:2379')).toBe('etcd://***@127.0.0.1:2379');
  });

  it('hides password and token query parameters, keeping the others', () => {
    expect(redactUrl('etcd://h:1?password=hunter2&connectTimeoutMs=x&token=abc')).toBe(
      'etcd://h:1?password=***&connectTimeoutMs=x&token=***',
    );
  });

  it('hides credentials of a URL inside a longer message', () => {
    expect(redactUrl('cannot reach consul://tok@10.0.0.1:8500 (timeout)')).not.toContain('tok@');
  });
});

describe('redactSecrets', () => {
  it('replaces every occurrence of each secret', () => {
    expect(redactSecrets('auth failed for hunter2 (hunter2)', ['hunter2'])).toBe('auth failed for *** (***)');
  });

  it('ignores secrets that are not set', () => {
    expect(redactSecrets('plain', [undefined, ''])).toBe('plain');
  });
});
