/**
 * `POST /nacos/v1/auth/users/login` (and the older `/nacos/v1/auth/login`): a configured user's
 * `username` and `password` (form or query) for an accessToken, answered as Nacos 1.2+ does:
 * `{"accessToken":"…","tokenTtl":18000,"globalAdmin":false}`. The token then rides as the
 * `accessToken` parameter (or header) on every call. A refusal is 403, as in Nacos.
 */
import type { FastifyInstance } from 'fastify';
import { PUBLIC } from '../../api/access.js';
import { VigilError } from '../../errors.js';
import type { Authenticator } from '../../security/authenticator.js';
import { paramsOf } from '../params.js';

export function registerLoginRoutes(app: FastifyInstance, auth: Authenticator): void {
  for (const path of ['/nacos/v1/auth/users/login', '/nacos/v1/auth/login']) {
    app.post(path, PUBLIC, async (req) => {
      const p = paramsOf(req);
      const username = p.username;
      if (username === undefined || username === '') throw new VigilError('VIGIL_ERR_UNAUTHORIZED', "Param 'username' is required.", 'username');
      return auth.login(username, p.password ?? '');
    });
  }
}
