/**
 * The one authorization gate. Every route declares its access level where it is registered
 * (`config: { access }`); a route without one fails at registration. The check runs after routing,
 * on the route that will actually handle the request, so no spelling of a URL (encoded letters,
 * case, slashes, dot segments) can reach a handler without its route's check: the router decides
 * what runs and the gate asks that route, never the raw URL.
 *
 *   public  anyone (health of the daemon, login, unknown Nacos paths answered 501)
 *   read    listings; anyone unless `api.anonymousReads: false`
 *   write   changes to the registry (register, beat, deregister, checker configs, whitelist)
 *   admin   switches and operator actions that can turn checking off
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isVigilError, VigilError } from '../errors.js';
import type { FailureLimiter } from './rate-limit.js';
import { allows, type Authenticator, type Offered, type Role } from '../security/authenticator.js';

export type Access = 'public' | Role;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
}

const LEVELS: ReadonlySet<unknown> = new Set<Access>(['public', 'read', 'write', 'admin']);

export interface GateOptions {
  readonly auth: Authenticator;
  readonly anonymousReads: boolean;
  /** Failed credential checks per client address (api/rate-limit.ts), shared with the login route. */
  readonly failures?: FailureLimiter;
}

function param(bag: unknown, name: string): string | undefined {
  if (bag === null || typeof bag !== 'object') return undefined;
  const v = (bag as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

/** Credentials as the clients send them: a bearer header, or Nacos parameters in the query or a form body. */
export function offeredBy(req: FastifyRequest): Offered {
  const header = req.headers.authorization;
  const bearer = typeof header === 'string' ? /^Bearer\s+(\S.*)$/i.exec(header)?.[1] : undefined;
  const pick = (name: string) => param(req.query, name) ?? param(req.body, name);
  const tokenHeader = req.headers.accesstoken;
  return {
    bearer,
    accessToken: pick('accessToken') ?? (typeof tokenHeader === 'string' ? tokenHeader : undefined),
    username: pick('username'),
    password: pick('password'),
  };
}

export function installAccessGate(app: FastifyInstance, opts: GateOptions): void {
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (!LEVELS.has(access)) throw new Error(`route ${String(route.method)} ${route.url} declares no access level (config.access)`);
  });
  // preValidation: after routing and body parsing (Java SDKs send credentials in a form body),
  // before any handler runs.
  app.addHook('preValidation', async (req) => {
    // Only the not-found handler has no level: every route declares one (checked above).
    const access = req.routeOptions.config.access;
    if (access === undefined || access === 'public' || !opts.auth.enabled) return;
    if (access === 'read' && opts.anonymousReads) return;
    const offered = offeredBy(req);
    const who = identifyCounted(opts, offered, req.socket.remoteAddress ?? 'unknown');
    if (!who) throw new VigilError('VIGIL_ERR_UNAUTHORIZED', `this route needs a credential (${access})`, 'credential');
    if (!allows(who.role, access)) throw new VigilError('VIGIL_ERR_FORBIDDEN', `role ${who.role} may not use this route (needs ${access})`, 'credential');
  });
}

/** A one-way fingerprint of the credential parts a request offered (never stored in clear). */
export function credentialFingerprint(...parts: Array<string | undefined>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url');
}

/**
 * `identify`, with failed checks counted per client address. A guessable credential (the bearer
 * token, a username and password) from an address over its failures is refused unless it verified
 * before; an accessToken is always checked (it is signed: nothing to guess).
 */
function identifyCounted(opts: GateOptions, offered: Offered, client: string) {
  const failures = opts.failures;
  if (!failures) return opts.auth.identify(offered);
  const guessable = offered.bearer !== undefined || ((offered.accessToken ?? '') === '' && (offered.username !== undefined || offered.password !== undefined));
  const fingerprint = guessable ? credentialFingerprint(offered.bearer, offered.username, offered.password) : undefined;
  if (guessable) failures.check(client, fingerprint);
  try {
    const who = opts.auth.identify(offered);
    if (who && fingerprint !== undefined) failures.succeed(fingerprint);
    return who;
  } catch (err) {
    if (isVigilError(err, 'VIGIL_ERR_AUTH_INVALID')) failures.fail(client);
    throw err;
  }
}

/** Route options for each level: `app.get('/v1/instances', READ, handler)`. */
export const PUBLIC = { config: { access: 'public' } } as const;
export const READ = { config: { access: 'read' } } as const;
export const WRITE = { config: { access: 'write' } } as const;
export const ADMIN = { config: { access: 'admin' } } as const;
