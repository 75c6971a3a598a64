/**
 * Composition: buildApp(config) wires the store, registry, checkers, scheduler and API and returns
 * `{ start, stop }`, so a test can run several daemons in one process or in several.
 */
import cron, { type ScheduledTask } from 'node-cron';
import pino, { type Logger } from 'pino';
import { builtinCheckers } from '../checkers/index.js';
import { registerNativeRoutes } from './api/native.js';
import { createServer } from './api/server.js';
import { createFailureLimiter } from './api/rate-limit.js';
import { createBeatModule } from './beat/beat-module.js';
import { registerBeatRoutes } from './beat/routes.js';
import type { Config } from './config/schema.js';
import { createCheckerRegistry } from './health/checker-registry.js';
import { loadPlugins } from './health/plugin-loader.js';
import { createResourcePool } from './health/resources.js';
import { createRunner } from './health/runner.js';
import { createProbePool, probeWorkers } from './health/probe-pool.js';
import { createBusyGate } from './runtime/busy-gate.js';
import { ACTIVE_CHECKS_SWITCH, createScheduler, type SchedulerStats } from './health/scheduler.js';
import { isExpired } from './health/whitelist.js';
import type { CheckerConfig } from './registry/model.js';
import { createNacos } from './nacos/index.js';
import type { Companion } from './companion/companion.js';
import { registerCompanionRoutes } from './companion/routes.js';
import { parseServerAddr } from './companion/http.js';
import { credentialsOf, setupCompanion } from './companion/setup.js';
import { COMPANION_SINK, sharedWorkingStore, workingStore } from './companion/working-store.js';
import { createRegistry } from './registry/registry.js';
import { mysqlPassword, openStore } from './registry/open-store.js';
import type { ClusterNode, MemberInfo } from './cluster/cluster-node.js';
import { createDaemonCluster, resolveClusterSecret } from './cluster/daemon-cluster.js';
import { createEphemeralCluster } from './cluster/ephemeral.js';
import { registerPrimaryRoute } from './primaries/route.js';
import { createPrimaryTracker } from './primaries/tracker.js';
import { instanceView } from './api/views.js';
import { parseCheckerConfig, type CheckerPolicy } from './registry/validate.js';
import { redact, knownSecrets, type KnownSecrets } from './security/redact.js';
import { resolveSecurity } from './security/setup.js';
import { createObservability } from './observe/observability.js';
import { resolveWebhooks } from './observe/webhook-config.js';
import { lockDataDir } from './runtime/data-dir-lock.js';
import { createFdAlarm, isFdExhaustion } from './runtime/fd-alarm.js';
import { reservePort } from './runtime/reserve-port.js';
import { apiConnectionCap, readFdLimit } from './runtime/fd-limits.js';

export interface AppOptions {
  /** Folder that relative plugin paths resolve against (the config file's). */
  readonly baseDir?: string;
  readonly logger?: Logger;
  readonly now?: () => number;
  /** VIGIL_CLUSTER_SECRET as the CLI read it (only the entry point reads the environment). */
  readonly clusterSecret?: string;
  /** Environment for secrets named in the config (`source.nacos.passwordEnv`); the CLI passes process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface App {
  /** Loads plugins, locks the data dir, binds the port, opens the store, starts probing and listening; resolves with the API's URL. */
  start(): Promise<{ url: string }>;
  stop(): Promise<void>;
  /** Probe-loop figures, for benchmarks and /healthz; undefined before start. */
  stats(): SchedulerStats | undefined;
  /** Cluster mode: this node's view of the members; undefined otherwise. */
  members(): MemberInfo[] | undefined;
}

export function buildApp(config: Config, opts: AppOptions = {}): App {
  // Log lines pass the same redaction as every other output; the config's secrets join at start.
  let known: KnownSecrets = knownSecrets([]);
  const logger = opts.logger ?? pino({ level: config.log.level, hooks: { streamWrite: (line) => redact(line, { known }) } });
  const now = opts.now ?? Date.now;
  let stopFn: (() => Promise<void>) | undefined;
  let schedulerStats: SchedulerStats | undefined;
  let clusterNode: ClusterNode | undefined;

  async function start(): Promise<{ url: string }> {
    // Whatever a start opened before it failed is closed again, newest first, so a failed start
    // leaves no port, lock, pool or timer behind and the process can end.
    const undo: Array<() => unknown> = [];
    try {
      return await startOrUndo(undo);
    } catch (err) {
      for (const step of undo.reverse()) await Promise.resolve().then(step).catch(() => {});
      throw err;
    }
  }

  async function startOrUndo(undo: Array<() => unknown>): Promise<{ url: string }> {
    const webhooks = resolveWebhooks(config.observe.webhooks);
    const checkers = createCheckerRegistry(builtinCheckers);
    await loadPlugins(checkers, config.plugins, opts.baseDir);
    // The shared store is cluster mode: its secret signs peer requests and, through a derived key,
    // the accessTokens every node must accept. Read before anything is opened.
    const shared = config.store.kind === 'mysql';
    const clusterSecret = shared ? resolveClusterSecret(config.cluster, opts.clusterSecret, opts.baseDir ?? process.cwd()) : undefined;
    const security = resolveSecurity(config, now, undefined, clusterSecret);
    // Webhook secrets sign deliveries; like every configured secret they must never reach a log line.
    known = knownSecrets([...security.known.values, ...webhooks.map((h) => h.secret)]);
    if (clusterSecret) known = knownSecrets([...known.values, clusterSecret, mysqlPassword(config.store.url)]);
    // Companion mode: its Nacos password joins the secrets every log line and answer is scrubbed of.
    const companionMode = config.source.nacos.serverAddr !== undefined;
    // Checked before anything is opened, so a bad address or secret leaves nothing behind.
    if (companionMode) parseServerAddr(config.source.nacos.serverAddr ?? '');
    const nacosCredentials = companionMode ? credentialsOf(config.source.nacos, opts.env ?? process.env) : undefined;
    if (nacosCredentials) known = knownSecrets([...known.values, nacosCredentials.password]);
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
    // One daemon per data dir, and the port bound before the store is opened: a second start or a
    // taken port ends here with one line, having touched nothing.
    // The shared store has no data dir to lock: the database serialises its writers.
    const lock = shared ? undefined : lockDataDir(config.store.dataDir);
    if (lock) undo.push(() => lock.release());
    const reservation = await reservePort(config.api.host, config.api.port);
    undo.push(() => reservation.release());
    let opened = await openStore(config, logger.child({ module: 'store' }), companionMode ? workingStore : undefined);
    // A database it refuses is closed by sharedWorkingStore itself.
    if (companionMode && opened.mysql) opened = await sharedWorkingStore(opened);
    const { store, healthWriter, mysql, snapshot } = opened;
    /** Writes the health changes still queued, then closes; a failure here is logged, not thrown. */
    const closeStore = async (): Promise<void> => {
      await healthWriter.close().catch(() => {});
      await store.close();
      lock?.release();
    };
    undo.push(closeStore);
    const advertiseUrl = config.cluster.advertiseUrl ?? `http://${config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host}:${reservation.port}`;
    const cluster =
      mysql && clusterSecret && config.cluster.nodeId
        ? createDaemonCluster({ store: mysql, cluster: config.cluster, nodeId: config.cluster.nodeId, secret: clusterSecret, advertiseUrl, logger: logger.child({ module: 'cluster' }) })
        : undefined;
    const registry = createRegistry({
      store,
      ...(snapshot ? { snapshot } : {}),
      // Companion nodes share health through the Nacos server, not the store: nothing to publish.
      ...(cluster && !companionMode ? { publisher: cluster.publisher } : {}),
      healthWriter,
      now,
      initialHealthy: config.checks.initialHealthy,
      reviveChecker: revive,
    });
    const node = cluster?.attach(registry, companionMode ? COMPANION_SINK : undefined);
    clusterNode = node;
    if (!config.checks.enabled && registry.getSwitch(ACTIVE_CHECKS_SWITCH) === undefined) registry.setSwitch(ACTIVE_CHECKS_SWITCH, false);
    const fdAlarm = createFdAlarm({ logger: logger.child({ module: 'fds' }) });
    // Probes run on worker threads (checks.workers), or on this thread when there are none.
    const workers = probeWorkers(config.checks.workers);
    const poolLogger = logger.child({ module: 'probe-pool' });
    // `auto` starts its workers once this thread is busy; a number, at each shard's first probe.
    const busy = workers > 0 && config.checks.workers === 'auto' ? createBusyGate({ onOpen: (utilisation) => poolLogger.info({ utilisation, workers }, 'the main thread is busy; starting probe workers') }) : undefined;
    undo.push(() => busy?.close());
    const pool = workers > 0 ? createProbePool({ workers, lazy: true, ...(busy ? { needed: busy.open } : {}), plugins: config.plugins, baseDir: opts.baseDir, credentials: security.credentials, logger: poolLogger }) : undefined;
    undo.push(() => pool?.stop());
    // Not awaited: until a worker has loaded its checkers its shard probes on this thread (probe-pool.ts).
    pool?.start();
    const resources = pool?.resources ?? createResourcePool(now);
    const runner = pool?.runner ?? createRunner({ credentials: security.credentials });
    // Cluster mode: ephemeral instances have one responsible node each; the others forward and replicate.
    const ephemeral =
      node && clusterSecret && config.cluster.nodeId && !companionMode
        ? createEphemeralCluster({ node, registry, nodeId: config.cluster.nodeId, secret: clusterSecret, cluster: config.cluster, beats: () => beats, now, logger: logger.child({ module: 'ephemeral' }) })
        : undefined;
    const beats = createBeatModule({
      registry,
      config: config.beat,
      logger: logger.child({ module: 'beat' }),
      now,
      ...(ephemeral ? { owns: ephemeral.owns, peerHolds: ephemeral.peerHolds, clusterStatus: ephemeral.status } : {}),
    });
    undo.push(() => fdAlarm.close());
    const observe = createObservability({ registry, config: config.observe, webhooks, logger, now, known, dataDir: config.store.dataDir, scheduler: () => schedulerStats, probeWorkers: () => pool?.stats, beats: () => beats.status(), ...(node ? { cluster: () => node.stats() } : {}) });
    // The tracker asks the scheduler for probes; the scheduler reports every result to the tracker.
    const primaries = createPrimaryTracker({
      registry,
      policy: config.primaries,
      hurry: (key, delayMs) => scheduler.probeSoon(key, delayMs),
      now,
      logger: logger.child({ module: 'primaries' }),
    });
    if (cluster) {
      // Roles read by other nodes' probes: the published records, loaded now and applied later.
      for (const key of registry.keys()) {
        const rec = registry.peek(key);
        if (rec?.lastProbe && !rec.instance.ephemeral) primaries.observe(key, rec.lastProbe, rec.health);
      }
      cluster.onApplied((row) => row.health.lastProbe && primaries.observe(row.key, row.health.lastProbe, row.health.health));
    }
    const scheduler = createScheduler({
      observeProbe: observe.onProbe,
      registry,
      checkers,
      runner,
      resources,
      now,
      defaults: { ...config.checks, checker: defaultChecker },
      onProbe: primaries.onProbe,
      onFdExhausted: () => fdAlarm.record('probe'),
      ...(node ? { owns: (key: string) => node.ownsKey(key) } : {}),
    });
    schedulerStats = scheduler.stats;
    const log = logger.child({ module: 'health' });
    const unsubscribe = registry.subscribe((e) => {
      if (e.type === 'health-changed') {
        log.info({ instance: e.key, healthy: e.change.to, reason: e.change.reason, by: e.change.decidedBy, version: e.change.version }, 'health changed');
      }
    });

    const fdLimit = readFdLimit();
    const maxConnections = apiConnectionCap(config.server.maxConnections, fdLimit, config.server.reservedFds);
    // Failed credential checks, counted per client address wherever they happen: the login route
    // and the gate (the npm client sends username/password on every call, so any route could be
    // used to guess a password).
    const loginFailures = createFailureLimiter({ max: config.server.loginFailuresPerMinute, windowMs: 60_000 }, now);
    const server = await createServer({
      logger,
      gate: { auth: security.auth, anonymousReads: config.api.anonymousReads, failures: loginFailures },
      known,
      limits: config.server,
      maxConnections,
      readsPerSecond: config.server.readsPerSecond,
    });
    undo.push(() => server.close());
    const viewDeps = { registry, checkers, defaultChecker, now, roleOf: primaries.roleOf };
    registerNativeRoutes(server, { ...viewDeps, scheduler, limits: config.registry, policy: apiPolicy, listingConcurrency: config.server.listingConcurrency, ...(ephemeral ? { forward: ephemeral.forward } : {}) });
    registerPrimaryRoute(server, { tracker: primaries, view: (rec) => instanceView(viewDeps, rec), maxWaitMs: config.primaries.maxWaitMs });
    observe.register(server);
    const nacos = createNacos({ registry, checkers, beats, config: config.nacos, limits: config.registry, policy: apiPolicy, auth: security.auth, loginFailures, known, logger: logger.child({ module: 'nacos' }), now, roleOf: primaries.roleOf, ...(ephemeral ? { forward: ephemeral.forward } : {}) });
    // Companion mode: the Nacos server is the registry; vigil serves no registry API of its own.
    let companion: Companion | undefined;
    if (companionMode) {
      const policies = { operator: operatorPolicy, server: apiPolicy };
      const owns = node ? { owns: (key: string) => node.ownsKey(key) } : {};
      companion = setupCompanion({ config, checkers, registry, defaultChecker, logger: logger.child({ module: 'companion' }), now, credentials: nacosCredentials, policies, ...owns });
      undo.push(() => companion?.stop());
      registerCompanionRoutes(server, companion);
    } else {
      ephemeral?.register(server);
      registerBeatRoutes(server, beats, ephemeral?.forward);
      nacos.register(server);
    }
    node?.registerRoutes(server);
    observe.start();
    undo.push(() => observe.stop());
    primaries.start();
    undo.push(() => primaries.stop());
    await reservation.release();
    // A backlog as deep as the connection cap: a burst of connections waits in the kernel's accept
    // queue instead of overflowing it, where dropped handshakes are retried seconds later and the
    // request timeout would start late (bench/README.md, slow-body attack).
    const address = await server.listen({ host: config.api.host, port: reservation.port, backlog: maxConnections });
    // Join after listening (peers broadcast to us from our first heartbeat) and before probing
    // (the first round decides which shards this node may probe).
    undo.push(() => node?.stop());
    await node?.start();
    undo.push(() => ephemeral?.stop());
    await ephemeral?.start();
    scheduler.start();
    undo.push(() => scheduler.stop());
    // After listen, which reports its own errors (EADDRINUSE) by rejecting.
    server.server.on('error', (err) => {
      if (isFdExhaustion(err)) fdAlarm.record('accept');
      else logger.error({ err }, 'API server error');
    });
    if (companion) companion.start();
    else {
      beats.start();
      undo.push(() => beats.stop());
      undo.push(() => nacos.stop());
      await nacos.start(config.api.host);
    }
    // Housekeeping is cron-shaped: prune expired whitelist entries, close idle connections.
    const jobs: ScheduledTask[] = [
      cron.schedule('*/10 * * * * *', () => {
        for (const e of registry.whitelist()) if (isExpired(e, now())) registry.removeWhitelist(e.id);
      }),
      cron.schedule('*/30 * * * * *', () => void resources.sweepIdle(config.checks.resourceIdleMs)),
    ];
    logger.info(
      { address, instances: registry.size, store: config.store.kind, ...(shared ? { nodeId: config.cluster.nodeId, advertiseUrl } : { dataDir: config.store.dataDir }), maxConnections, fdLimit },
      'vigil started',
    );

    stopFn = async () => {
      for (const j of jobs) await j.stop();
      // First, so the others take this node's shards at their next round rather than after the TTL.
      await ephemeral?.stop();
      await node?.stop();
      unsubscribe();
      await companion?.stop();
      beats.stop();
      await nacos.stop();
      // Long-polls answer now, so closing the server does not wait for them.
      primaries.stop();
      await scheduler.stop();
      busy?.close();
      await pool?.stop();
      await server.close();
      await observe.stop();
      fdAlarm.close();
      await closeStore();
      logger.info('vigil stopped');
    };
    return { url: address };
  }

  return {
    start,
    stats: () => schedulerStats,
    members: () => clusterNode?.members(),
    async stop() {
      const fn = stopFn;
      stopFn = undefined;
      await fn?.();
    },
  };
}
