/**
 * accessToken signing keys: random per authenticator on a single node (a restart, or another
 * daemon, refuses the token), derived from the cluster secret in cluster mode (every node of the
 * cluster accepts every node's tokens; a cluster with another secret refuses them).
 */
import { describe, expect, it } from 'vitest';
import { accessTokenKey, createAuthenticator, type Authenticator } from '../../src/security/authenticator.js';
import { isVigilError } from '../../src/errors.js';

const USERS = [{ username: 'app', password: 'app-pass-91x', role: 'write' as const }];
const NOW = Date.parse('2026-12-01T00:00:00Z');

const node = (tokenKey?: Buffer): Authenticator => createAuthenticator({ users: USERS, tokenTtlMs: 60_000, now: () => NOW, tokenKey });

function refusal(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isVigilError(err) ? `${err.code} ${err.field}` : String(err);
  }
}

describe('accessToken keys', () => {
  it('derives the same key from the same cluster secret, another from another, and neither equals the secret', () => {
    expect(accessTokenKey('cluster-secret-one-xyz').equals(accessTokenKey('cluster-secret-one-xyz'))).toBe(true);
    expect(accessTokenKey('cluster-secret-one-xyz').equals(accessTokenKey('cluster-secret-two-xyz'))).toBe(false);
    expect(accessTokenKey('cluster-secret-one-xyz').toString('utf8')).not.toContain('cluster-secret-one-xyz');
  });

  it('accepts a token issued by another node of the same cluster, with the user and role it names', () => {
    const key = accessTokenKey('cluster-secret-one-xyz');
    const { accessToken } = node(key).login('app', 'app-pass-91x');
    expect(node(key).identify({ accessToken })).toEqual({ name: 'app', role: 'write' });
  });

  it('refuses a token issued by a node of a cluster with another secret', () => {
    const { accessToken } = node(accessTokenKey('cluster-secret-one-xyz')).login('app', 'app-pass-91x');
    expect(refusal(() => node(accessTokenKey('cluster-secret-two-xyz')).identify({ accessToken }))).toBe('VIGIL_ERR_AUTH_INVALID accessToken');
  });

  it('on single nodes (no key given) refuses a token issued by another daemon, as before', () => {
    const { accessToken } = node().login('app', 'app-pass-91x');
    expect(refusal(() => node().identify({ accessToken }))).toBe('VIGIL_ERR_AUTH_INVALID accessToken');
  });
});
