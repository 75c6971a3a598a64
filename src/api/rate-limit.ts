/**
 * Per-client limits. Reads: a few clients hammering listings cannot starve probes and beats of the
 * event loop. Writes, beats, /healthz and /metrics are never limited: beats keep ephemeral instances
 * alive and health endpoints must answer when things are worst; a request carrying an admin
 * credential is not limited either (the operator's tools must get through a read storm).
 * Logins: failed credential checks from one address are counted (the login route and the access
 * gate share one count), so a password cannot be guessed at line rate.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { VigilError } from '../errors.js';
import type { Authenticator } from '../security/authenticator.js';
import { offeredBy } from './access.js';

const UNLIMITED = new Set(['/healthz', '/metrics']);

export const isLimited = (req: FastifyRequest): boolean => req.method === 'GET' && !UNLIMITED.has(req.routeOptions.url ?? '');

/** Registers the limit (before any route, so every route gets it); `perSecond` 0 turns it off. */
export async function registerReadRateLimit(app: FastifyInstance, perSecond: number, auth?: Authenticator): Promise<void> {
  if (perSecond === 0) return;
  const isAdmin = (req: FastifyRequest): boolean => {
    if (auth === undefined || !auth.enabled) return false;
    try {
      return auth.identify(offeredBy(req))?.role === 'admin';
    } catch {
      return false; // a bad credential is limited like none; the access gate refuses it later
    }
  };
  await app.register(rateLimit, {
    global: true,
    max: perSecond,
    timeWindow: 1000,
    allowList: (req) => !isLimited(req) || isAdmin(req),
    errorResponseBuilder: (_req, ctx) =>
      new VigilError('VIGIL_ERR_RATE_LIMITED', `more than ${ctx.max} reads a second from this client; retry in ${ctx.after}`, 'client'),
  });
}

export interface FailureLimiter {
  /**
   * Throws VIGIL_ERR_LOGIN_RATE_LIMITED while `client` has used up its failures in this window,
   * unless the request offers a credential that verified before (`known`): guessing stops, while a
   * client whose password is right keeps working beside a guesser on its address (its beats go on).
   */
  check(client: string, known?: string): void;
  /** Counts one failure of `client`. */
  fail(client: string): void;
  /** Remembers a credential that verified (by `credentialFingerprint` of api/access.ts), so check() lets it through. */
  succeed(known: string): void;
}

export interface FailureLimits {
  /** Failures allowed per client in one window; 0 turns the limit off. */
  readonly max: number;
  readonly windowMs: number;
  /** Clients tracked at once; the oldest window is dropped past this (bounded memory under a spray of addresses). */
  readonly maxClients?: number;
  /** Verified credentials remembered at once (fingerprints only); the oldest is forgotten past this. */
  readonly maxKnown?: number;
}

/** A fixed window per client, started by its first failure. Pure apart from the clock it is given. */
export function createFailureLimiter(limits: FailureLimits, now: () => number): FailureLimiter {
  const windows = new Map<string, { start: number; failures: number }>();
  const known = new Set<string>();
  const maxClients = limits.maxClients ?? 10_000;
  const maxKnown = limits.maxKnown ?? 1024;
  const current = (client: string) => {
    const w = windows.get(client);
    if (w && now() - w.start >= limits.windowMs) {
      windows.delete(client);
      return undefined;
    }
    return w;
  };
  return {
    check(client, fingerprint) {
      if (limits.max === 0) return;
      const w = current(client);
      if (!w || w.failures < limits.max) return;
      if (fingerprint !== undefined && known.has(fingerprint)) return;
      const retryS = Math.max(1, Math.ceil((w.start + limits.windowMs - now()) / 1000));
      throw new VigilError('VIGIL_ERR_LOGIN_RATE_LIMITED', `more than ${limits.max} failed logins from this client; retry in ${retryS} s`, 'client');
    },
    fail(client) {
      if (limits.max === 0) return;
      const w = current(client);
      if (w) {
        w.failures++;
        return;
      }
      if (windows.size >= maxClients) windows.delete(windows.keys().next().value!);
      windows.set(client, { start: now(), failures: 1 });
    },
    succeed(fingerprint) {
      if (limits.max === 0 || known.has(fingerprint)) return;
      if (known.size >= maxKnown) known.delete(known.keys().next().value!);
      known.add(fingerprint);
    },
  };
}
