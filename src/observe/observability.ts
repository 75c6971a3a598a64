/**
 * Composition of everything an operator watches: metrics, the event hub with its SSE route,
 * webhooks, probe history and the status page. Every part follows the registry's one change feed
 * (through the hub, or directly for metrics) and the scheduler's probe observer; none of them is
 * called by the modules it watches.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { BeatStatus } from '../beat/status.js';
import type { ClusterStats } from '../cluster/cluster-stats.js';
import type { Config } from '../config/schema.js';
import type { ProbePoolStats } from '../health/probe-pool.js';
import type { ProbeObserver, SchedulerStats } from '../health/scheduler.js';
import type { Registry } from '../registry/registry.js';
import { redact, type KnownSecrets } from '../security/redact.js';
import { registerEventsRoute } from '../api/events-route.js';
import { registerHistoryRoutes } from '../api/history-route.js';
import { registerMetricsRoute } from '../api/metrics-route.js';
import { registerStatusPage } from '../api/status-page.js';
import { createEventHub, type VigilEvent } from './event-hub.js';
import { createHistory } from './history.js';
import { openHistoryStore, type HistoryStore } from './history-store.js';
import { createMetrics } from './metrics.js';
import type { WebhookEndpoint } from './webhook-config.js';
import { createWebhooks } from './webhooks.js';

export interface ObservabilityDeps {
  readonly registry: Registry;
  readonly config: Config['observe'];
  /** `config.webhooks` with their secrets read (webhook-config.ts). */
  readonly webhooks: readonly WebhookEndpoint[];
  readonly logger: Logger;
  readonly now: () => number;
  readonly scheduler: () => SchedulerStats | undefined;
  readonly probeWorkers?: () => ProbePoolStats | undefined;
  readonly beats: () => BeatStatus;
  /** Cluster mode: the node's figures for the peer metrics. */
  readonly cluster?: () => ClusterStats;
  /** Exact configured secrets, scrubbed from event data with everything redact() removes. */
  readonly known?: KnownSecrets;
  /** Where the uptime counts are kept (the store's folder). */
  readonly dataDir: string;
}

/** How often changed uptime counts are written to disk. */
const FLUSH_MS = 60_000;
/** Instances whose counts one turn of the event loop persists (~2 rows each; ~5 ms on the bench machine). */
const FLUSH_SLICE = 500;

export interface Observability {
  readonly onProbe: ProbeObserver;
  /** Adds the routes (and the request-counting hook) to the server, before it listens. */
  register(app: FastifyInstance): void;
  start(): void;
  stop(): Promise<void>;
}

const SELF_LOGGED = new Set(['health-changed', 'self-preservation-on', 'self-preservation-off', 'stall-compensated']);

export function createObservability(deps: ObservabilityDeps): Observability {
  const { registry, config, now } = deps;
  const log = deps.logger.child({ module: 'observe' });
  const metrics = createMetrics({ registry, scheduler: deps.scheduler, beats: deps.beats, ...(deps.probeWorkers ? { probeWorkers: deps.probeWorkers } : {}), ...config.metrics, ...(deps.cluster ? { cluster: deps.cluster } : {}) });
  const history = createHistory(config.history);
  // Redacted once per event, so the stream, webhooks and logs all carry the same safe copy.
  const safe = (data: Readonly<Record<string, unknown>>) => redact(data, deps.known ? { known: deps.known } : {});
  const hub = createEventHub({ registry, now, historySize: config.events.historySize, redact: safe, onSinkError: (err) => log.error({ err }, 'an event sink failed') });
  const webhooks = createWebhooks({
    hub,
    endpoints: deps.webhooks,
    logger: deps.logger.child({ module: 'webhooks' }),
    now,
    onResult: (name, result) => metrics.webhook(name, result),
    onQueue: (name, size) => metrics.webhookQueue(name, size),
  });
  let events: { close(): void } | undefined;
  /** Each change once, with its reason; health flips and self-preservation are logged where they are decided. */
  const logChange = (e: VigilEvent): void => {
    if (SELF_LOGGED.has(e.type)) return;
    log.info({ event: e.type, id: e.id, ...(e.scope?.instance ? { instance: e.scope.instance } : {}), ...e.data }, e.type);
  };
  let unsubscribe: (() => void) | undefined;
  let saved: HistoryStore | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  /**
   * Persists the uptime counts in slices of FLUSH_SLICE instances, one slice per turn of the event
   * loop: at 100k instances one batch was ~200k rows and a second of blocked loop a minute (probes
   * late, beats waiting). At stop, flushAll writes the pass under way and then a whole new one at
   * once (the new one takes what changed behind the first).
   */
  let flushing = false;
  const writeSlice = (limit: number): boolean => {
    try {
      saved?.write(history.takeDirty(now(), limit));
      return true;
    } catch (err) {
      log.error({ err }, 'writing the uptime counts failed; kept in memory');
      return false;
    }
  };
  const flushSlices = (): void => {
    if (saved === undefined) return void (flushing = false);
    if (writeSlice(FLUSH_SLICE) && history.passOpen) return void setImmediate(flushSlices);
    flushing = false;
  };
  const flush = (): void => {
    if (flushing) return;
    flushing = true;
    flushSlices();
  };
  const flushAll = (): void => {
    if (history.passOpen && !writeSlice(Infinity)) return;
    writeSlice(Infinity);
  };

  return {
    onProbe(key, result, lagMs) {
      // Runs inside the probe loop: a bug here must cost a log line, never a probe's verdict.
      try {
        if (config.metrics.enabled) metrics.onProbe(key, result, lagMs);
        history.record(key, result);
      } catch (err) {
        log.error({ err }, 'recording a probe for metrics or history failed');
      }
    },
    register(app) {
      if (config.metrics.enabled) registerMetricsRoute(app, metrics);
      events = registerEventsRoute(app, {
        hub,
        logger: log,
        ...config.events,
        onClients: (n) => metrics.eventClients(n),
        onDropped: () => metrics.eventClientDropped(),
      });
      registerHistoryRoutes(app, { registry, history, now });
      if (config.statusPage.enabled) registerStatusPage(app, { registry });
      // Streams never end by themselves: close them before the server waits for its connections.
      app.addHook('preClose', (done) => {
        events?.close();
        done();
      });
    },
    start() {
      saved = openHistoryStore(deps.dataDir);
      history.restore(saved.load(now(), config.history.days), now());
      flushTimer = setInterval(flush, FLUSH_MS);
      flushTimer.unref();
      unsubscribe = registry.subscribe((e) => {
        metrics.onEvent(e);
        if (e.type === 'instance-deregistered') {
          history.forget(e.key);
          saved?.forget(e.key);
        }
      });
      hub.start();
      hub.subscribe(logChange);
      webhooks.start();
      if (config.metrics.enabled) metrics.start();
    },
    async stop() {
      unsubscribe?.();
      events?.close();
      hub.stop();
      await webhooks.stop();
      clearInterval(flushTimer);
      flushAll();
      saved?.close();
      saved = undefined;
    },
  };
}
