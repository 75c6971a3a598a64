/**
 * The Nacos v1 naming API under `/nacos/v1/ns/`, in its own fastify scope so that its errors are
 * answered the Nacos way: a text body naming the parameter with 400, 404 for a missing instance or
 * service, 501 for any path vigil does not serve. `x-vigil-error-code` carries the stable code.
 */
import { PUBLIC } from '../api/access.js';
import type { FailureLimiter } from '../api/rate-limit.js';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { BeatModule } from '../beat/beat-module.js';
import { VigilError, type ErrorCode } from '../errors.js';
import type { CheckerRegistry } from '../health/checker-registry.js';
import type { Registry } from '../registry/registry.js';
import type { CheckerPolicy, ValidationLimits } from '../registry/validate.js';
import type { Authenticator } from '../security/authenticator.js';
import { redact, type KnownSecrets } from '../security/redact.js';
import { renderList, type NacosConfig, type NacosContext } from './context.js';
import { createInterner } from './instances.js';
import { createPush, type Push } from './push.js';
import { registerBeatRoute } from './routes/beat.js';
import { registerClusterRoute } from './routes/cluster.js';
import { registerInstanceRoutes } from './routes/instance.js';
import { registerLoginRoutes } from './routes/login.js';
import { registerOperatorRoutes } from './routes/operator.js';
import { registerServiceRoutes } from './routes/service.js';
import { createServiceStore } from './service-store.js';
import { createSubscribers } from './subscribers.js';

export const NACOS_BASE = '/nacos/v1/ns';

export interface NacosDeps {
  readonly registry: Registry;
  readonly checkers: CheckerRegistry;
  readonly beats: BeatModule;
  readonly config: NacosConfig;
  readonly limits: ValidationLimits;
  readonly policy: CheckerPolicy;
  readonly auth: Authenticator;
  /** Failed logins per client address (`server.loginFailuresPerMinute`), shared with the access gate. */
  readonly loginFailures?: FailureLimiter;
  readonly known?: KnownSecrets;
  readonly logger: Logger;
  readonly now?: () => number;
  /** The role of an instance by its key (the primaries tracker), shown in its metadata. */
  readonly roleOf?: NacosContext['roleOf'];
  /** Cluster mode: ephemeral writes go to the node responsible for the instance. */
  readonly forward?: NacosContext['forward'];
}

export interface Nacos {
  /** Adds the routes to the server (before it listens). */
  register(app: FastifyInstance): void;
  /** Starts UDP push next to the API's `host`. */
  start(host: string): Promise<void>;
  stop(): Promise<void>;
}

// Nacos answers every refused credential with 403, never 401.
const STATUS: Partial<Record<ErrorCode, number>> = {
  VIGIL_ERR_NOT_FOUND: 404,
  VIGIL_ERR_NOT_IMPLEMENTED: 501,
  VIGIL_ERR_STORE: 503,
  VIGIL_ERR_UNAUTHORIZED: 403,
  VIGIL_ERR_AUTH_INVALID: 403,
  VIGIL_ERR_AUTH_EXPIRED: 403,
  VIGIL_ERR_FORBIDDEN: 403,
  VIGIL_ERR_LOGIN_RATE_LIMITED: 429,
};

function text(reply: FastifyReply, status: number, code: string, body: string): FastifyReply {
  return reply.code(status).header('x-vigil-error-code', code).type('text/plain; charset=utf-8').send(body);
}

export function createNacos(deps: NacosDeps): Nacos {
  const now = deps.now ?? Date.now;
  const subscribers = createSubscribers(deps.config.push.subscriberTtlMs, deps.config.push.maxSubscribers, deps.config.push.maxSubscribersPerClient);
  const beats = deps.beats;
  const push: Push | undefined = deps.config.push.enabled
    ? createPush({
        registry: deps.registry,
        subscribers,
        config: deps.config.push,
        render: (sub) => JSON.stringify(renderList(context, sub.service, sub.request)),
        logger: deps.logger,
        now,
      })
    : undefined;
  const context: NacosContext = {
    registry: deps.registry,
    checkers: deps.checkers,
    beats,
    services: createServiceStore(deps.registry),
    subscribers,
    push,
    instances: { limits: deps.limits, interner: createInterner(), beatDefaults: () => beats.defaults() },
    config: deps.config,
    now,
    logger: deps.logger,
    counters: { reregistered: 0, unknownBeats: 0 },
    policy: deps.policy,
    roleOf: deps.roleOf,
    forward: deps.forward,
  };
  const safe = (message: string) => redact(message, deps.known ? { known: deps.known } : {});
  let pruneTimer: NodeJS.Timeout | undefined;

  function onError(err: FastifyError | VigilError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    if (err instanceof VigilError) return text(reply, STATUS[err.code] ?? 400, err.code, safe(err.message));
    const status = (err as FastifyError).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return text(reply, status, 'VIGIL_ERR_REQUEST_INVALID', safe(`caused: ${err.message}`));
    req.log.error({ err }, 'nacos request failed');
    return text(reply, 500, 'VIGIL_ERR_INTERNAL', 'caused: internal error');
  }

  return {
    register(app) {
      if (!deps.config.enabled) return;
      void app.register(async (scope) => {
        scope.setErrorHandler(onError);
        registerInstanceRoutes(scope, context, NACOS_BASE);
        registerBeatRoute(scope, context, NACOS_BASE);
        registerServiceRoutes(scope, context, NACOS_BASE);
        registerClusterRoute(scope, context, NACOS_BASE);
        registerOperatorRoutes(scope, context, NACOS_BASE);
        registerLoginRoutes(scope, deps.auth, deps.loginFailures);
        const unknown = async (req: FastifyRequest): Promise<never> => {
          throw new VigilError('VIGIL_ERR_NOT_IMPLEMENTED', `${req.method} ${req.url.split('?')[0]} is not implemented by vigil`, 'path');
        };
        scope.all('/nacos', PUBLIC, unknown);
        scope.all('/nacos/*', PUBLIC, unknown);
      });
    },
    async start(host) {
      if (!deps.config.enabled || !push) return;
      await push.start(host);
      pruneTimer = setInterval(() => subscribers.prune(now()), deps.config.push.subscriberTtlMs);
      pruneTimer.unref();
    },
    async stop() {
      clearInterval(pruneTimer);
      await push?.stop();
    },
  };
}
