/**
 * Composition: buildApp(config) wires the store, registry, checkers, scheduler and API and returns
 * `{ start, stop }`, so a test can run several daemons in one process or in several.
 */
import cron, { type ScheduledTask } from 'node-cron';
import pino, { type Logger } from 'pino';
import { builtinCheckers } from '../checkers/index.js';
import { registerNativeRoutes } from './api/native.js';
import { createServer } from './api/server.js';
import { createBeatModule } from './beat/beat-module.js';
import { registerBeatRoutes } from './beat/routes.js';
import type { Config } from './config/schema.js';
import { createCheckerRegistry } from './health/checker-registry.js';
import { loadPlugins } from './health/plugin-loader.js';
import { createResourcePool } from './health/resources.js';
import { createRunner } from './health/runner.js';
import { ACTIVE_CHECKS_SWITCH, createScheduler, type SchedulerStats } from './health/scheduler.js';
import { isExpired } from './health/whitelist.js';
import type { CheckerConfig } from './registry/model.js';
import { createNacos } from './nacos/index.js';
import { createRegistry } from './registry/registry.js';
import { openSqliteStore } from './registry/sqlite-store.js';
import { parseCheckerConfig, type CheckerPolicy } from './registry/validate.js';
import { redact, knownSecrets, type KnownSecrets } from './security/redact.js';
import { resolveSecurity } from './security/setup.js';
import { createObservability } from './observe/observability.js';
import { resolveWebhooks } from './observe/webhook-config.js';

export interface AppOptions {
  /** Folder that relative plugin paths resolve against (the config file's). */
  readonly baseDir?: string;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export interface App {
  /** Loads plugins, opens the store, starts probing and listening; resolves with the API's URL. */
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
  /** Probe-loop figures, for benchmarks and /healthz; undefined before start. */
  stats(): SchedulerStats | undefined;
}

export function buildApp(config: Config, opts: AppOptions = {}): App {
  // Log lines pass the same redaction as every other output; the config's secrets join at start.
  let known: KnownSecrets = knownSecrets([]);
  const logger = opts.logger ?? pino({ level: config.log.level, hooks: { streamWrite: (line) => redact(line, { known }) } });
  const now = opts.now ?? Date.now;
  let stopFn: (() => Promise<void>) | undefined;
  let schedulerStats: SchedulerStats | undefined;

  async function start(): Promise<{ url: string }> {
    const webhooks = resolveWebhooks(config.observe.webhooks);
    const checkers = createCheckerRegistry(builtinCheckers);
    await loadPlugins(checkers, config.plugins, opts.baseDir);
    const security = resolveSecurity(config, now);
    // Webhook secrets sign deliveries; like every configured secret they must never reach a log line.
    known = knownSecrets([...security.known.values, ...webhooks.map((h) => h.secret)]);
    const operatorPolicy: CheckerPolicy = { fromApi: false, anyTarget: true, credentials: security.credentials };
    // Stored configs came in over an API: they get the API's policy when they are read back.
    const apiPolicy: CheckerPolicy = { fromApi: true, credentials: security.credentials };
    const defaultChecker: CheckerConfig = parseCheckerConfig(checkers, config.checks.checker, operatorPolicy, 'checks.checker');
    const revive = (raw: unknown): CheckerConfig | undefined => {
      try {
        return parseCheckerConfig(checkers, raw, apiPolicy);
      } catch (err) {
        logger.warn({ err }, 'a stored checker config no longer validates; kept as stored');
        return undefined;
      }
    };
    const store = openSqliteStore({ dataDir: config.store.dataDir, synchronous: config.store.synchronous });
    const registry = createRegistry({ store, now, initialHealthy: config.checks.initialHealthy, reviveChecker: revive });
    if (!config.checks.enabled && registry.getSwitch(ACTIVE_CHECKS_SWITCH) === undefined) registry.setSwitch(ACTIVE_CHECKS_SWITCH, false);
    const resources = createResourcePool(now);
    const runner = createRunner({ credentials: security.credentials });
    const beats = createBeatModule({ registry, config: config.beat, logger: logger.child({ module: 'beat' }), now });
    const observe = createObservability({ registry, config: config.observe, webhooks, logger, now, known, dataDir: config.store.dataDir, scheduler: () => schedulerStats, beats: () => beats.status() });
    const scheduler = createScheduler({
      onProbe: observe.onProbe,
      registry,
      checkers,
      runner,
      resources,
      now,
      defaults: { ...config.checks, checker: defaultChecker },
    });
    schedulerStats = scheduler.stats;
    const log = logger.child({ module: 'health' });
    const unsubscribe = registry.subscribe((e) => {
      if (e.type === 'health-changed') {
        log.info({ instance: e.key, healthy: e.change.to, reason: e.change.reason, by: e.change.decidedBy, version: e.change.version }, 'health changed');
      }
    });

    const server = createServer({ logger, gate: { auth: security.auth, anonymousReads: config.api.anonymousReads }, known });
    registerNativeRoutes(server, { registry, checkers, defaultChecker, now, scheduler, limits: config.registry, policy: apiPolicy });
    observe.register(server);
    const nacos = createNacos({ registry, checkers, beats, config: config.nacos, limits: config.registry, policy: apiPolicy, auth: security.auth, known, logger: logger.child({ module: 'nacos' }), now });
    registerBeatRoutes(server, beats);
    nacos.register(server);
    observe.start();
    scheduler.start();
    let address: string;
    try {
      address = await server.listen({ host: config.api.host, port: config.api.port });
    } catch (err) {
      await scheduler.stop();
      await observe.stop();
      store.close();
      throw err;
    }
    beats.start();
    await nacos.start(config.api.host);
    // Housekeeping is cron-shaped: prune expired whitelist entries, close idle connections.
    const jobs: ScheduledTask[] = [
      cron.schedule('*/10 * * * * *', () => {
        for (const e of registry.whitelist()) if (isExpired(e, now())) registry.removeWhitelist(e.id);
      }),
      cron.schedule('*/30 * * * * *', () => void resources.sweepIdle(config.checks.resourceIdleMs)),
    ];
    logger.info({ address, instances: registry.size, dataDir: config.store.dataDir }, 'vigil started');

    stopFn = async () => {
      for (const j of jobs) await j.stop();
      unsubscribe();
      beats.stop();
      await nacos.stop();
      await scheduler.stop();
      await server.close();
      await observe.stop();
      store.close();
      logger.info('vigil stopped');
    };
    return { url: address };
  }

  return {
    start,
    stats: () => schedulerStats,
    async stop() {
      const fn = stopFn;
      stopFn = undefined;
      await fn?.();
    },
  };
}
