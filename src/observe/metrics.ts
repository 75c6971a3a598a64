/**
 * Prometheus metrics (prom-client, on a registry of this daemon's own, never the global one, so
 * several daemons can live in one process). Counters that follow probes and events are bumped as
 * they happen; everything that is a current state (instances by health, beat counters, scheduler
 * figures) is read when scraped, so the hot paths pay nothing for it. Names: docs/observability.md.
 */
import client from 'prom-client';
import { fastCounter, fastHistogram } from './fast-metrics.js';
import type { ProbeResult } from '../health/contract.js';
import type { ProbePoolStats } from '../health/probe-pool.js';
import type { SchedulerStats } from '../health/scheduler.js';
import type { BeatStatus } from '../beat/status.js';
import type { ClusterStats } from '../cluster/cluster-stats.js';
import type { Registry, RegistryEvent } from '../registry/registry.js';
import { groupedName } from '../registry/model.js';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsDeps {
  readonly registry: Registry;
  readonly scheduler: () => SchedulerStats | undefined;
  /** The probe worker threads' figures; undefined when probes run on the main thread. */
  readonly probeWorkers?: () => ProbePoolStats | undefined;
  readonly beats: () => BeatStatus;
  readonly instanceSeries: boolean;
  readonly maxInstanceSeries: number;
  /** Cluster mode: the node's figures, read at scrape time; absent on a single node (no peer metrics). */
  readonly cluster?: () => ClusterStats;
}

export interface Metrics {
  readonly register: client.Registry;
  onProbe(key: string, result: ProbeResult, lagMs: number): void;
  onEvent(e: RegistryEvent): void;
  apiRequest(route: string, method: string, status: number): void;
  eventClients(n: number): void;
  eventClientDropped(): void;
  webhook(endpoint: string, result: 'delivered' | 'failed' | 'retried' | 'dropped'): void;
  webhookQueue(endpoint: string, size: number): void;
  /** Starts the process collectors (event loop delay sampling); nothing runs before. */
  start(): void;
}

/** A counter that mirrors a running total kept elsewhere: adds the difference on each scrape. */
function mirror(register: client.Registry, name: string, help: string, read: () => number | undefined): void {
  let seen = 0;
  new client.Counter({
    name, help, registers: [register],
    collect() {
      const now = read() ?? seen;
      if (now > seen) this.inc(now - seen);
      seen = Math.max(seen, now);
    },
  });
}

/** Peer metrics, read from the cluster node's plain figures when scraped. */
function clusterMetrics(register: client.Registry, stats: () => ClusterStats): void {
  new client.Gauge({
    name: 'vigil_cluster_members', help: "Members in this node's latest view: alive (counted), dead, refused (another cluster secret)", labelNames: ['state'], registers: [register],
    collect() {
      const m = stats().members;
      for (const state of ['alive', 'dead', 'refused'] as const) this.set({ state }, m[state]);
    },
  });
  new client.Gauge({
    name: 'vigil_cluster_shards_owned', help: 'Shards whose lease this node holds now', registers: [register],
    collect() { this.set(stats().shardsOwned); },
  });
  new client.Gauge({
    name: 'vigil_cluster_store_poll_lag_seconds', help: "Age of this node's view of the shared store: seconds since the last successful poll began", registers: [register],
    collect() { this.set((stats().pollLagMs ?? 0) / 1000); },
  });
  mirror(register, 'vigil_cluster_broadcasts_sent_total', 'Health changes broadcast to a peer that accepted them (one per change per peer)', () => stats().broadcastsSent);
  mirror(register, 'vigil_cluster_broadcasts_failed_total', 'Health changes whose broadcast to a peer failed (one per change per peer; the poll repairs them)', () => stats().broadcastsFailed);
  mirror(register, 'vigil_cluster_broadcasts_applied_total', 'Health changes received by broadcast from peers and applied', () => stats().broadcastsApplied);
  mirror(register, 'vigil_cluster_broadcasts_repaired_total', 'Health changes this node first read from the shared store (poll or reconcile) rather than from a broadcast', () => stats().broadcastsRepaired);
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const register = new client.Registry();
  const { registry } = deps;
  const probes = fastCounter(register, 'vigil_probes_total', 'Completed probes by checker type and verdict');
  const duration = fastHistogram(register, 'vigil_probe_duration_seconds', 'Probe latency as the runner measured it', SECONDS);
  const lag = fastHistogram(register, 'vigil_scheduler_lag_seconds', 'How late probes started after they were due', SECONDS).series({});
  const transitions = new client.Counter({ name: 'vigil_health_transitions_total', help: 'Health flips by who decided (checker type, beat, operator, peer) and new health', labelNames: ['checker', 'to'], registers: [register] });
  const expired = new client.Counter({ name: 'vigil_ephemeral_expired_total', help: 'Ephemeral instances deleted for missing beats', registers: [register] });
  const api = new client.Counter({ name: 'vigil_api_requests_total', help: 'HTTP requests by route pattern, method and status', labelNames: ['route', 'method', 'status'], registers: [register] });
  const clients = new client.Gauge({ name: 'vigil_event_stream_clients', help: 'Clients connected to /v1/events', registers: [register] });
  const dropped = new client.Counter({ name: 'vigil_event_stream_dropped_total', help: 'Event stream clients disconnected for reading too slowly', registers: [register] });
  const hooks = new client.Counter({ name: 'vigil_webhook_deliveries_total', help: 'Webhook delivery attempts by endpoint and result', labelNames: ['endpoint', 'result'], registers: [register] });
  const hookQueue = new client.Gauge({ name: 'vigil_webhook_queue', help: 'Events waiting for delivery per webhook endpoint', labelNames: ['endpoint'], registers: [register] });

  const sched = (): SchedulerStats | undefined => deps.scheduler();
  mirror(register, 'vigil_probes_skipped_total', 'Due probes skipped because the previous probe of the instance was still running', () => sched()?.skipped);
  mirror(register, 'vigil_probes_shed_total', 'Due probes shed because the global probe queue was full (overdue)', () => sched()?.shed);
  mirror(register, 'vigil_probes_exempt_total', 'Due probes not run because the instance is exempt (active checks switched off, whitelisted, or overridden)', () => sched()?.exempt);
  mirror(register, 'vigil_probe_worker_restarts_total', 'Probe worker threads started again after one ended (a crash, or a checker blocking its thread)', () => deps.probeWorkers?.()?.restarts);
  new client.Gauge({
    name: 'vigil_probe_workers', help: 'Probe worker threads (checks.workers); 0: probes run on the main thread', registers: [register],
    collect() { this.set(deps.probeWorkers?.()?.workers ?? 0); },
  });
  new client.Gauge({
    name: 'vigil_probe_workers_ready', help: 'Probe worker threads started and loaded (a worker starts at its shard\'s first probe; until it is ready, its shard probes on the main thread)', registers: [register],
    collect() { this.set(deps.probeWorkers?.()?.ready ?? 0); },
  });
  mirror(register, 'vigil_beats_received_total', 'Beats received for known ephemeral instances', () => deps.beats().counters.beats);
  new client.Gauge({
    name: 'vigil_probes_running', help: 'Probes in flight', registers: [register],
    collect() { this.set(sched()?.running ?? 0); },
  });
  new client.Gauge({
    name: 'vigil_self_preservation_active', help: '1 while self-preservation holds deletions of ephemeral instances', registers: [register],
    collect() { this.set(deps.beats().selfPreservation.engaged ? 1 : 0); },
  });
  new client.Gauge({
    name: 'vigil_instances', help: 'Registered instances by kind and health', labelNames: ['kind', 'health'], registers: [register],
    collect() {
      const n = { ephemeral: [0, 0], persistent: [0, 0] };
      for (const key of registry.keys()) {
        const r = registry.peek(key);
        if (r) n[r.instance.ephemeral ? 'ephemeral' : 'persistent'][r.health.healthy ? 0 : 1]!++;
      }
      for (const kind of ['ephemeral', 'persistent'] as const) {
        this.set({ kind, health: 'up' }, n[kind][0]!);
        this.set({ kind, health: 'down' }, n[kind][1]!);
      }
    },
  });
  if (deps.cluster) clusterMetrics(register, deps.cluster);
  if (deps.instanceSeries) {
    const truncated = new client.Gauge({ name: 'vigil_instance_series_truncated', help: '1 when vigil_instance_up was cut at observe.metrics.maxInstanceSeries', registers: [register] });
    new client.Gauge({
      name: 'vigil_instance_up', help: 'Per-instance health (1 up, 0 down), at most maxInstanceSeries series', labelNames: ['namespace', 'service', 'cluster', 'instance'], registers: [register],
      collect() {
        this.reset();
        let n = 0;
        for (const key of registry.keys()) {
          if (n++ >= deps.maxInstanceSeries) break;
          const r = registry.peek(key);
          if (!r) continue;
          const i = r.instance;
          this.set({ namespace: i.namespace, service: groupedName(i), cluster: i.cluster, instance: `${i.ip.includes(':') ? `[${i.ip}]` : i.ip}:${i.port}` }, r.health.healthy ? 1 : 0);
        }
        truncated.set(registry.size > deps.maxInstanceSeries ? 1 : 0);
      },
    });
  }

  // The probe path looks its series up once per checker type and verdict, then bumps numbers.
  const probeSeries = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();
  const seriesOf = (type: string, status: string) => {
    const k = `${type} ${status}`;
    let c = probeSeries.get(k);
    if (!c) probeSeries.set(k, (c = { count: probes.series({ checker: type, result: status }), time: duration.series({ checker: type }) }));
    return c;
  };

  return {
    register,
    onProbe(_key, result, lagMs) {
      const c = seriesOf(result.type, result.status);
      c.count.inc();
      c.time.observe(result.latencyMs / 1000);
      lag.observe(Math.max(0, lagMs) / 1000);
    },
    onEvent(e) {
      if (e.type === 'health-changed') {
        const by = e.change.decidedBy === 'checker' ? (e.record.lastProbe?.type ?? 'checker') : e.change.decidedBy;
        transitions.inc({ checker: by, to: e.change.to ? 'up' : 'down' });
      } else if (e.type === 'instance-deregistered' && e.cause === 'expired') expired.inc();
    },
    apiRequest: (route, method, status) => api.inc({ route, method, status: String(status) }),
    eventClients: (n) => clients.set(n),
    eventClientDropped: () => dropped.inc(),
    webhook: (endpoint, result) => hooks.inc({ endpoint, result }),
    webhookQueue: (endpoint, size) => hookQueue.set({ endpoint }, size),
    start() {
      client.collectDefaultMetrics({ register });
      // prom-client names these gauges `_total`, which promtool rejects; the per-type gauges of
      // the same figures (`nodejs_active_handles` …) stay.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) register.removeSingleMetric(name);
    },
  };
}
