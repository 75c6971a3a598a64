/**
 * Nacos credentials on the client side. With a username the companion logs in once
 * (`POST /nacos/v1/auth/users/login`), sends the token as the `accessToken` parameter, logs in
 * again before `tokenTtl` runs out, and once more when the server answers 403 (a restarted server
 * forgets its tokens). A server without the login route (404/501) gets `username`/`password` on
 * every call instead, which Nacos-compatible servers also accept.
 */
import { NacosCallError, type HttpAnswer, type Params } from './http.js';

export const LOGIN_PATH = '/nacos/v1/auth/users/login';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Auth {
  /** Parameters that authenticate one call (empty without credentials). */
  params(): Promise<Params>;
  /**
   * Forget the token: the next call logs in again. With `used`, only when that is still the
   * current token (two calls refused at once must not throw away the login the first one made).
   */
  invalidate(used?: unknown): void;
  readonly mode: 'none' | 'token' | 'params' | 'pending';
}

export interface AuthDeps {
  readonly credentials: Credentials | undefined;
  readonly login: (c: Credentials) => Promise<HttpAnswer>;
  readonly now: () => number;
}

/** Renew when this share of the token's life has passed, so a slow poll never carries a dead token. */
const RENEW_AT = 0.8;

export function parseLogin(answer: HttpAnswer): { token: string; ttlMs: number } {
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    body = undefined;
  }
  const b = body as { accessToken?: unknown; tokenTtl?: unknown } | undefined;
  if (typeof b?.accessToken !== 'string' || b.accessToken === '') {
    throw new NacosCallError('malformed', `login answer without accessToken: ${answer.text.slice(0, 80)}`, answer.server, answer.status);
  }
  const ttlS = typeof b.tokenTtl === 'number' && b.tokenTtl > 0 ? b.tokenTtl : 18000;
  return { token: b.accessToken, ttlMs: ttlS * 1000 };
}

export function createAuth(deps: AuthDeps): Auth {
  let token: { value: string; renewAt: number } | undefined;
  let mode: Auth['mode'] = deps.credentials ? 'pending' : 'none';
  let inflight: Promise<Params> | undefined;

  async function login(c: Credentials): Promise<Params> {
    const answer = await deps.login(c);
    if (answer.status === 404 || answer.status === 501) {
      mode = 'params';
      return { username: c.username, password: c.password };
    }
    if (answer.status === 401 || answer.status === 403) {
      throw new NacosCallError('auth', `login as ${c.username} refused (${answer.status}): ${answer.text.slice(0, 80)}`, answer.server, answer.status);
    }
    if (answer.status >= 400) {
      throw new NacosCallError(answer.status >= 500 ? 'server-error' : 'client-error', `login answered ${answer.status}`, answer.server, answer.status);
    }
    const { token: value, ttlMs } = parseLogin(answer);
    token = { value, renewAt: deps.now() + ttlMs * RENEW_AT };
    mode = 'token';
    return { accessToken: value };
  }

  return {
    async params() {
      const c = deps.credentials;
      if (!c) return {};
      if (mode === 'params') return { username: c.username, password: c.password };
      if (token && deps.now() < token.renewAt) return { accessToken: token.value };
      // Concurrent callers share one login.
      inflight ??= login(c).finally(() => (inflight = undefined));
      return inflight;
    },
    invalidate(used) {
      if (used !== undefined && token !== undefined && token.value !== used) return;
      token = undefined;
      if (mode === 'token') mode = 'pending';
    },
    get mode() {
      return mode;
    },
  };
}
