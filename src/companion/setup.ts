/**
 * Builds a companion from `source.nacos`: resolves the password (inline or from an environment
 * variable), validates the per-service checker overrides against the loaded checkers, and wires
 * the HTTP client, rate limiter, checker mapping and companion together.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { CheckerRegistry } from '../health/checker-registry.js';
import type { CheckerConfig } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import type { Credentials } from './auth.js';
import { createCheckerMapping, parseOverrides } from './checker-mapping.js';
import { createCompanion, type Companion } from './companion.js';
import { createNacosHttp, parseServerAddr } from './http.js';
import { createNacosClient, type NacosClient } from './nacos-client.js';
import { createRateLimiter } from './rate-limit.js';

export type NacosSourceConfig = Config['source']['nacos'];

export function credentialsOf(cfg: NacosSourceConfig, env: Readonly<Record<string, string | undefined>>): Credentials | undefined {
  if (cfg.username === undefined) return undefined;
  let password = cfg.password ?? '';
  if (cfg.passwordEnv !== undefined) {
    const v = env[cfg.passwordEnv];
    if (v === undefined) throw new VigilError('VIGIL_ERR_SECRET_UNAVAILABLE', `environment variable ${cfg.passwordEnv} is not set`, 'source.nacos.passwordEnv');
    password = v;
  }
  return { username: cfg.username, password };
}

/** The rate-limited, authenticating client for `cfg` (also used by `vigil nacos adopt`). */
export function clientFor(cfg: NacosSourceConfig, env: Readonly<Record<string, string | undefined>>, now: () => number): { client: NacosClient; limiter: ReturnType<typeof createRateLimiter> } {
  const servers = parseServerAddr(cfg.serverAddr ?? '');
  if (servers.length === 0) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', 'source.nacos.serverAddr: no host:port given', 'source.nacos.serverAddr');
  const limiter = createRateLimiter({ perSecond: cfg.maxRequestsPerSecond, burst: Math.max(1, Math.ceil(cfg.maxRequestsPerSecond)) }, now);
  const http = createNacosHttp({ servers, timeoutMs: cfg.requestTimeoutMs, limiter });
  return { client: createNacosClient(http, credentialsOf(cfg, env), now), limiter };
}

export interface CompanionSetup {
  readonly config: Config;
  readonly checkers: CheckerRegistry;
  readonly registry: Registry;
  readonly defaultChecker: CheckerConfig;
  readonly logger: Logger;
  readonly now: () => number;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function setupCompanion(s: CompanionSetup): Companion {
  const cfg = s.config.source.nacos;
  const overrides = parseOverrides(s.checkers, cfg.services);
  const { client, limiter } = clientFor(cfg, s.env, s.now);
  return createCompanion({
    client,
    limiter,
    mapping: createCheckerMapping(s.checkers, overrides, s.defaultChecker),
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
  });
}
