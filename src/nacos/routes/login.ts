/**
 * `POST /nacos/v1/auth/users/login` (and the older `/nacos/v1/auth/login`): a configured user's
 * `username` and `password` (form or query) for an accessToken, answered as Nacos 1.2+ does:
 * `{"accessToken":"…","tokenTtl":18000,"globalAdmin":false}`. The token then rides as the
 * `accessToken` parameter (or header) on every call. A refusal is 403, as in Nacos. Failed logins
 * are counted per client address (`server.loginFailuresPerMinute`): past the limit every login from
 * that address is a 429 until its minute is over, so a password cannot be guessed at line rate.
 */
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from '../../api/access.js';
import type { FailureLimiter } from '../../api/rate-limit.js';
import { isVigilError, VigilError } from '../../errors.js';
import type { Authenticator } from '../../security/authenticator.js';
import { MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS } from '../param-schemas.js';
import { readParams } from '../params.js';
import { z } from 'zod';

const PARAMS = {
  username: z.string().max(MAX_USERNAME_CHARS, `must be at most ${MAX_USERNAME_CHARS} characters`).optional(),
  password: z.string().max(MAX_PASSWORD_CHARS, `must be at most ${MAX_PASSWORD_CHARS} characters`).optional(),
};

export function registerLoginRoutes(app: FastifyInstance, auth: Authenticator, failures?: FailureLimiter): void {
  for (const path of ['/nacos/v1/auth/users/login', '/nacos/v1/auth/login']) {
    app.post(path, PUBLIC, async (req) => {
      const client = req.socket.remoteAddress ?? 'unknown';
      failures?.check(client);
      const { username, password } = readParams(req, PARAMS);
      if (username === undefined) throw new VigilError('VIGIL_ERR_UNAUTHORIZED', "Param 'username' is required.", 'username');
      try {
        return auth.login(username, password ?? '');
      } catch (err) {
        if (isVigilError(err, 'VIGIL_ERR_AUTH_INVALID')) failures?.fail(client);
        throw err;
      }
    });
  }
}
