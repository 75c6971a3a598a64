/**
 * Who is calling: the bearer token, a configured user (`username`/`password` parameters, as the
 * npm `nacos` client sends them on every call) or an accessToken issued by the login route.
 * Pure apart from the clock it is given; comparisons are constant-time.
 *
 * AccessTokens are `<payload>.<hmac>`: the payload holds the user and the expiry. On a single node
 * the HMAC key is random per daemon start: a restart ends every token; clients log in again (the
 * Nacos SDKs do so on a 403). In cluster mode the key is derived from the cluster secret
 * (`accessTokenKey`), so every node accepts every node's tokens — a Nacos client logs in on one
 * server of its list and calls the others — and a node of another cluster refuses them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { VigilError, type ErrorCode } from '../errors.js';

export type Role = 'read' | 'write' | 'admin';

export interface AuthUser {
  readonly username: string;
  readonly password: string;
  readonly role: Role;
}

export interface Principal {
  readonly name: string;
  readonly role: Role;
}

/** What a request offers; any field may be missing. */
export interface Offered {
  readonly bearer?: string | undefined;
  readonly accessToken?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

export interface LoginAnswer {
  readonly accessToken: string;
  /** Seconds, as Nacos answers it. */
  readonly tokenTtl: number;
  readonly globalAdmin: boolean;
}

export interface Authenticator {
  /** False when neither a token nor users are configured: every route is open, as before auth existed. */
  readonly enabled: boolean;
  /** The principal, undefined when nothing was offered; throws a VigilError for a bad credential. */
  identify(offered: Offered): Principal | undefined;
  /** Checks a user's password; throws VIGIL_ERR_AUTH_INVALID when unknown or wrong. */
  login(username: string, password: string): LoginAnswer;
}

export interface AuthenticatorOptions {
  readonly token?: string | undefined;
  readonly users: readonly AuthUser[];
  readonly tokenTtlMs: number;
  readonly now: () => number;
  /** The accessToken signing key; random when absent (a single node). */
  readonly tokenKey?: Uint8Array | undefined;
}

/**
 * The accessToken signing key of a cluster: the same on every node that has the secret. Derived
 * under its own label, so a token's HMAC never equals a peer request's signature.
 */
export function accessTokenKey(clusterSecret: string): Buffer {
  return createHmac('sha256', clusterSecret).update('vigil accessToken v1').digest();
}

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

export function allows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** Equal-length digests, so the comparison takes the same time whatever the input. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function refuse(code: ErrorCode, message: string, field: string): never {
  throw new VigilError(code, message, field);
}

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const key = opts.tokenKey ?? randomBytes(32);
  const users = new Map(opts.users.map((u) => [u.username, u]));
  const sign = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url');

  function checkUser(username: string, password: string): AuthUser {
    const user = users.get(username);
    // Compare against something even for an unknown user, so timing does not tell names apart.
    const ok = sameSecret(password, user?.password ?? '\0unknown') && user !== undefined;
    if (!ok) refuse('VIGIL_ERR_AUTH_INVALID', 'unknown user or wrong password', 'password');
    return user;
  }

  function fromToken(token: string): Principal {
    const dot = token.lastIndexOf('.');
    const payload = dot > 0 ? token.slice(0, dot) : '';
    if (payload === '' || !sameSecret(token.slice(dot + 1), sign(payload))) refuse('VIGIL_ERR_AUTH_INVALID', 'the accessToken is not valid', 'accessToken');
    let claims: { u?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return refuse('VIGIL_ERR_AUTH_INVALID', 'the accessToken is not valid', 'accessToken');
    }
    if (typeof claims.exp !== 'number' || claims.exp <= opts.now()) refuse('VIGIL_ERR_AUTH_EXPIRED', 'the accessToken has expired; log in again', 'accessToken');
    const user = typeof claims.u === 'string' ? users.get(claims.u) : undefined;
    if (!user) return refuse('VIGIL_ERR_AUTH_INVALID', 'the accessToken names no configured user', 'accessToken');
    return { name: user.username, role: user.role };
  }

  return {
    enabled: opts.token !== undefined || users.size > 0,
    identify(o) {
      if (o.bearer !== undefined) {
        if (opts.token === undefined || !sameSecret(o.bearer, opts.token)) refuse('VIGIL_ERR_AUTH_INVALID', 'the bearer token is not valid', 'authorization');
        return { name: 'token', role: 'admin' };
      }
      if (o.accessToken !== undefined && o.accessToken !== '') return fromToken(o.accessToken);
      if (o.username !== undefined || o.password !== undefined) {
        const user = checkUser(o.username ?? '', o.password ?? '');
        return { name: user.username, role: user.role };
      }
      return undefined;
    },
    login(username, password) {
      const user = checkUser(username, password);
      const exp = opts.now() + opts.tokenTtlMs;
      const payload = Buffer.from(JSON.stringify({ u: user.username, exp })).toString('base64url');
      return { accessToken: `${payload}.${sign(payload)}`, tokenTtl: Math.floor(opts.tokenTtlMs / 1000), globalAdmin: user.role === 'admin' };
    },
  };
}
