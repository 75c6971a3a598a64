/**
 * The daemon's security pieces from the operator's config: the authenticator (token, users), the
 * named credentials, and the exact secret values the redactor scrubs from text. Files and
 * environment variables named in the config are read here, once, at start.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { VigilError } from '../errors.js';
import { accessTokenKey, createAuthenticator, type Authenticator } from './authenticator.js';
import { createCredentialStore, type CredentialStore } from './credentials.js';
import { knownSecrets, type KnownSecrets } from './redact.js';
import { resolvePassword } from './secret-source.js';

export interface Security {
  readonly auth: Authenticator;
  readonly credentials: CredentialStore;
  readonly known: KnownSecrets;
}

export function withField<T>(field: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof VigilError) throw new VigilError(err.code, `${field}: ${err.message}`, field, { cause: err });
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', `${field}: ${(err as Error).message}`, field, { cause: err });
  }
}

/** `clusterSecret` (cluster mode): accessTokens are signed with a key derived from it, so every node accepts them. */
export function resolveSecurity(config: Config, now: () => number, env: NodeJS.ProcessEnv = process.env, clusterSecret?: string): Security {
  const users = config.api.users.map((u, i) => ({
    username: u.username,
    role: u.role,
    password: withField(`api.users.${i}.password`, () => resolvePassword(u, env) ?? ''),
  }));
  const credentials = Object.fromEntries(
    Object.entries(config.credentials).map(([name, c]) => {
      const field = `credentials.${name}`;
      const password = withField(`${field}.password`, () => resolvePassword(c, env));
      const serverPublicKey = c.serverPublicKeyFile === undefined
        ? c.serverPublicKey
        : withField(`${field}.serverPublicKeyFile`, () => readFileSync(c.serverPublicKeyFile!, 'utf8'));
      return [name, { user: c.user, password, serverPublicKey, hosts: c.hosts }];
    }),
  );
  const store = withField('credentials', () => createCredentialStore(credentials));
  return {
    auth: createAuthenticator({
      token: config.api.token,
      users,
      tokenTtlMs: config.api.tokenTtlMs,
      now,
      ...(clusterSecret === undefined ? {} : { tokenKey: accessTokenKey(clusterSecret) }),
    }),
    credentials: store,
    known: knownSecrets([config.api.token, ...users.map((u) => u.password), ...Object.values(credentials).map((c) => c.password)]),
  };
}
