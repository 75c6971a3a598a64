/**
 * The HTTP server: fastify with the native routes under /v1, the Nacos routes under /nacos, the
 * access gate every route passes (api/access.ts), and one error handler that turns VigilErrors into
 * `{ code, message, field }` with a 4xx status, redacted like every other output.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyError } from 'fastify';
import formbody from '@fastify/formbody';
import type { Logger } from 'pino';
import { VigilError, type ErrorCode } from '../errors.js';
import { checkJsonBounds } from '../registry/limits.js';
import { registerReadRateLimit } from './rate-limit.js';
import { redact, type KnownSecrets } from '../security/redact.js';
import { installAccessGate, type GateOptions } from './access.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  VIGIL_ERR_NOT_FOUND: 404,
  VIGIL_ERR_UNAUTHORIZED: 401,
  VIGIL_ERR_AUTH_INVALID: 401,
  VIGIL_ERR_AUTH_EXPIRED: 401,
  VIGIL_ERR_FORBIDDEN: 403,
  VIGIL_ERR_STORE: 503,
  VIGIL_ERR_CLUSTER_STALE_EPOCH: 409,
  VIGIL_ERR_CLUSTER_SUPERSEDED: 409,
  VIGIL_ERR_CLUSTER_UNAUTHORIZED: 401,
  VIGIL_ERR_CLUSTER_UNKNOWN_NODE: 403,
  VIGIL_ERR_RATE_LIMITED: 429,
  VIGIL_ERR_LOGIN_RATE_LIMITED: 429,
  VIGIL_ERR_EVENTS_CLIENTS: 503,
};

export interface ServerOptions {
  readonly logger: Logger;
  readonly gate: GateOptions;
  /** Exact secrets from the config, scrubbed from every error message. */
  readonly known?: KnownSecrets;
  /** Timeouts and keep-alive limits (config `server`); node's defaults when absent (tests). */
  readonly limits?: ServerLimits;
  /** API connections accepted at once (already lowered below the descriptor limit). */
  readonly maxConnections?: number;
  /** GET requests a second per client (0 or absent: no limit); admin credentials are exempt. */
  readonly readsPerSecond?: number;
}

export interface ServerLimits {
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly timeoutCheckIntervalMs: number;
  readonly maxRequestsPerSocket: number;
}

/** Async because plugins that hook every route (the rate limit) must be loaded before routes are added. */
export async function createServer(opts: ServerOptions): Promise<FastifyInstance> {
  const limits = opts.limits;
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Keep-alive connections from beating clients stay open between beats.
    keepAliveTimeout: limits?.keepAliveTimeoutMs ?? 65_000,
    return503OnClosing: true,
    // fastify turns node's request timeout off by default: a body sent a byte at a time would hold
    // its socket forever. Node checks the timeouts every `connectionsCheckingInterval` ms.
    ...(limits
      ? {
          requestTimeout: limits.requestTimeoutMs,
          maxRequestsPerSocket: limits.maxRequestsPerSocket,
          http: { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: limits.timeoutCheckIntervalMs },
        }
      : {}),
  });
  if (opts.maxConnections !== undefined) app.server.maxConnections = opts.maxConnections;
  void app.register(formbody);
  installAccessGate(app, opts.gate);
  const safe = (body: object) => redact(body, opts.known ? { known: opts.known } : {});
  await registerReadRateLimit(app, opts.readsPerSecond ?? 0, opts.gate.auth);
  // Every JSON body, on every route: nesting is bounded before any handler walks it.
  app.addHook('preValidation', async (req) => {
    if (req.body !== null && typeof req.body === 'object') checkJsonBounds(req.body, 'body');
  });

  app.setErrorHandler((err: FastifyError | VigilError, req, reply) => {
    if (err instanceof VigilError) {
      return reply.code(STATUS[err.code] ?? 400).send(safe(err.toJSON()));
    }
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const fe = err as FastifyError;
      const body = fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError
        ? new VigilError('VIGIL_ERR_REQUEST_BODY', `request body is not valid JSON: ${err.message}`, 'body')
        : new VigilError('VIGIL_ERR_REQUEST_INVALID', err.message, 'body');
      return reply.code(status).send(safe(body.toJSON()));
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ code: 'VIGIL_ERR_INTERNAL', message: 'internal error' });
  });

  return app;
}
