/**
 * Builds a companion from `source.nacos`: resolves the password (inline, an environment variable
 * or a file, as every secret of the config), validates the per-service checker overrides against the loaded checkers, and wires
 * the HTTP client, rate limiter, checker mapping and companion together.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { CheckerRegistry } from '../health/checker-registry.js';
import type { CheckerConfig } from '../registry/model.js';
import type { CheckerPolicy } from '../registry/validate.js';
import { resolvePassword } from '../security/secret-source.js';
import type { Registry } from '../registry/registry.js';
import type { Credentials } from './auth.js';
import { createCheckerMapping, parseOverrides } from './checker-mapping.js';
import { createCompanion, type Companion } from './companion.js';
import { createNacosHttp, parseServerAddr } from './http.js';
import { createNacosClient, type NacosClient } from './nacos-client.js';
import { createRateLimiter } from './rate-limit.js';

export type NacosSourceConfig = Config['source']['nacos'];

export function credentialsOf(cfg: NacosSourceConfig, env: NodeJS.ProcessEnv): Credentials | undefined {
  if (cfg.username === undefined) return undefined;
  try {
    return { username: cfg.username, password: resolvePassword(cfg, env) ?? '' };
  } catch (err) {
    if (err instanceof VigilError) throw new VigilError(err.code, `source.nacos: ${err.message}`, 'source.nacos.password', { cause: err });
    throw err;
  }
}

/** The rate-limited, authenticating client for `cfg` (also used by `vigil nacos adopt`). */
export function clientFor(cfg: NacosSourceConfig, credentials: Credentials | undefined, now: () => number): { client: NacosClient; limiter: ReturnType<typeof createRateLimiter> } {
  const servers = parseServerAddr(cfg.serverAddr ?? '');
  const limiter = createRateLimiter({ perSecond: cfg.maxRequestsPerSecond, burst: Math.max(1, Math.ceil(cfg.maxRequestsPerSecond)) }, now);
  const http = createNacosHttp({ servers, timeoutMs: cfg.requestTimeoutMs, limiter });
  return { client: createNacosClient(http, credentials, now), limiter };
}

export interface CompanionSetup {
  readonly config: Config;
  readonly checkers: CheckerRegistry;
  readonly registry: Registry;
  readonly defaultChecker: CheckerConfig;
  readonly logger: Logger;
  readonly now: () => number;
  readonly credentials: Credentials | undefined;
  /** Checker policies (registry/validate.ts): the operator's for `services`, the API's for what the server declares. */
  readonly policies: { readonly operator: CheckerPolicy; readonly server: CheckerPolicy };
  /** With peers: the cluster's "do I own this key now?". */
  readonly owns?: (key: string) => boolean;
}

export function setupCompanion(s: CompanionSetup): Companion {
  const cfg = s.config.source.nacos;
  const overrides = parseOverrides(s.checkers, cfg.services, s.policies.operator);
  const { client, limiter } = clientFor(cfg, s.credentials, s.now);
  return createCompanion({
    client,
    limiter,
    mapping: createCheckerMapping(s.checkers, overrides, s.defaultChecker, s.policies.server),
    registry: s.registry,
    thresholds: (c) => ({ rise: c.rise ?? s.config.checks.rise, fall: c.fall ?? s.config.checks.fall }),
    options: {
      namespaces: cfg.namespaces,
      groups: cfg.groups,
      pageSize: cfg.pageSize,
      pollIntervalMs: cfg.pollIntervalMs,
      refusalRetryMs: cfg.refusalRetryMs,
      firstProbeDecides: cfg.firstProbeDecides,
    },
    logger: s.logger,
    now: s.now,
    ...(s.owns ? { owns: s.owns } : {}),
  });
}
