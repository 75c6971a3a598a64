/**
 * `POST /nacos/v1/auth/users/login` (and the older `/nacos/v1/auth/login`): a configured user's
 * `username` and `password` (form or query) for an accessToken, answered as Nacos 1.2+ does:
 * `{"accessToken":"…","tokenTtl":18000,"globalAdmin":false}`. The token then rides as the
 * `accessToken` parameter (or header) on every call. A refusal is 403, as in Nacos. Failed logins
 * are counted per client address (`server.loginFailuresPerMinute`, one count with the access gate):
 * past the limit a login from that address is a 429 until its minute is over — unless its
 * username and password verified before — so a password cannot be guessed at line rate.
 */
import type { FastifyInstance } from 'fastify';
import { credentialFingerprint, PUBLIC } from '../../api/access.js';
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
      const { username, password } = readParams(req, PARAMS);
      // The same fingerprint the access gate takes of username/password: a pair that verified
      // anywhere before still logs in from an address over its failures; nothing else does.
      const known = credentialFingerprint(undefined, username, password);
      failures?.check(client, known);
      if (username === undefined) throw new VigilError('VIGIL_ERR_UNAUTHORIZED', "Param 'username' is required.", 'username');
      try {
        const answer = auth.login(username, password ?? '');
        failures?.succeed(known);
        return answer;
      } catch (err) {
        if (isVigilError(err, 'VIGIL_ERR_AUTH_INVALID')) failures?.fail(client);
        throw err;
      }
    });
  }
}
