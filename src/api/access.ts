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
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../errors.js';
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
    const who = opts.auth.identify(offeredBy(req));
    if (!who) throw new VigilError('VIGIL_ERR_UNAUTHORIZED', `this route needs a credential (${access})`, 'credential');
    if (!allows(who.role, access)) throw new VigilError('VIGIL_ERR_FORBIDDEN', `role ${who.role} may not use this route (needs ${access})`, 'credential');
  });
}

/** Route options for each level: `app.get('/v1/instances', READ, handler)`. */
export const PUBLIC = { config: { access: 'public' } } as const;
export const READ = { config: { access: 'read' } } as const;
export const WRITE = { config: { access: 'write' } } as const;
export const ADMIN = { config: { access: 'admin' } } as const;
