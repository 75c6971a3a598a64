/** The daemon's HTTP server (api/server.ts) with its access gate, for tests that register routes on it. */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createServer } from '../../src/api/server.js';
import { createAuthenticator } from '../../src/security/authenticator.js';

/** With `token`, auth is on: `read` routes need it too unless `anonymousReads`. */
export function apiServer(opts: { token?: string; anonymousReads?: boolean } = {}): Promise<FastifyInstance> {
  const auth = createAuthenticator({ token: opts.token, users: [], tokenTtlMs: 3_600_000, now: Date.now });
  return createServer({ logger: pino({ level: 'silent' }), gate: { auth, anonymousReads: opts.anonymousReads ?? true } });
}
