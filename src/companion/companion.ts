/**
 * Companion mode: an existing Nacos server stays the registry of record. Every `pollIntervalMs`
 * the companion reads the server's persistent instances into the local working copy (mirror.ts),
 * the ordinary scheduler probes them, and write-back.ts puts decided health back on the server.
 * A poll that fails freezes writing until one succeeds again. Conditions (unreachable server,
 * refused credentials, malformed answers, clusters refusing external health) are logged once each
 * and shown by `status()`.
 */
import type { Logger } from 'pino';
import type { Thresholds } from '../health/state-machine.js';
import { serviceKey, type CheckerConfig, type Instance } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';
import type { CheckerMapping } from './checker-mapping.js';
import { createConditions, type Condition } from './conditions.js';
import { planMirror } from './diff.js';
import { pollServer } from './discovery.js';
import { NacosCallError } from './http.js';
import { applyMirror, seedNew } from './mirror.js';
import type { NacosClient } from './nacos-client.js';
import type { RateLimiter } from './rate-limit.js';
import { createWriteBack, type WriteStats } from './write-back.js';

const RETRY_FIRST_MS = 500;

export interface CompanionOptions {
  readonly namespaces: readonly string[];
  readonly groups: readonly string[];
  readonly pageSize: number;
  readonly pollIntervalMs: number;
  readonly refusalRetryMs: number;
  readonly firstProbeDecides: boolean;
}

export interface CompanionDeps {
  readonly client: NacosClient;
  readonly limiter: RateLimiter;
  readonly mapping: CheckerMapping;
  readonly registry: Registry;
  readonly thresholds: (checker: CheckerConfig) => Thresholds;
  readonly options: CompanionOptions;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface CompanionStatus {
  readonly server: string;
  readonly auth: string;
  readonly polls: { readonly ok: number; readonly failed: number; readonly lastOkAt: number | null; readonly lastDurationMs: number | null };
  readonly services: number;
  readonly instances: number;
  readonly clusters: ReadonlyArray<{ readonly cluster: string; readonly healthChecker: string; readonly refused: boolean }>;
  readonly writes: WriteStats;
  readonly requests: number;
  readonly conditions: readonly Condition[];
}

export interface Companion {
  start(): void;
  stop(): Promise<void>;
  status(): CompanionStatus;
}

export function createCompanion(deps: CompanionDeps): Companion {
  const { client, registry, options, logger, now } = deps;
  const conditions = createConditions(logger, now);
  const seen = new Set<string>();
  let clusters = new Map<string, string>();
  let services = 0;
  let instances = 0;
  const polls = { ok: 0, failed: 0, lastOkAt: null as number | null, lastDurationMs: null as number | null };
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let stopped = false;
  let failedInRow = 0;

  function report(err: NacosCallError): void {
    const kind = err.kind === 'timeout' ? 'unreachable' : err.kind === 'client-error' ? 'malformed' : err.kind;
    conditions.raise(kind, kind === 'unreachable' || kind === 'server-error' ? err.server : 'nacos', err.message);
  }

  const writeBack = createWriteBack({
    client,
    registry,
    conditions,
    logger,
    now,
    refusalRetryMs: options.refusalRetryMs,
    onOutage: report,
  });

  const mirrorDeps = { registry, now, thresholds: (d: { checker: { config: CheckerConfig } }) => deps.thresholds(d.checker.config), firstProbeDecides: options.firstProbeDecides, seen };

  function localCopy(): Map<string, Instance> {
    const out = new Map<string, Instance>();
    for (const key of registry.keys()) {
      const inst = registry.peek(key)?.instance;
      if (inst && !inst.ephemeral) out.set(key, inst);
    }
    return out;
  }

  async function pollOnce(): Promise<void> {
    const startedAt = now();
    let outcome;
    try {
      outcome = await pollServer(client, deps.mapping, { namespaces: options.namespaces, groups: options.groups, pageSize: options.pageSize });
    } catch (err) {
      polls.failed++;
      failedInRow++;
      writeBack.freeze();
      if (err instanceof NacosCallError) report(err);
      else throw err;
      return;
    }
    polls.ok++;
    failedInRow = 0;
    polls.lastOkAt = now();
    polls.lastDurationMs = now() - startedAt;
    for (const kind of ['unreachable', 'server-error', 'auth'] as const) conditions.clear(kind);
    const malformed = new Set(outcome.problems.map((p) => p.service));
    for (const p of outcome.problems) conditions.raise('malformed', p.service, `${p.service}: ${p.error.message}`);
    for (const c of conditions.list()) if (c.kind === 'malformed' && !malformed.has(c.subject)) conditions.clear('malformed', c.subject);

    const dropped = applyMirror(planMirror(localCopy(), outcome, serviceKey), mirrorDeps);
    for (const key of dropped) writeBack.forget(key);
    seedNew(outcome.instances.values(), mirrorDeps);
    for (const d of outcome.instances.values()) writeBack.track(d.key, d.id, d.serverHealthy, startedAt, d.serverViewReliable);
    for (const [scope, type] of outcome.clusters) if (clusters.get(scope) !== type) writeBack.clearRefusal(scope);
    clusters = new Map(outcome.clusters);
    services = outcome.services;
    instances = outcome.instances.size;
    writeBack.thaw();
    writeBack.reconcile();
  }

  /**
   * After a failed poll the next comes sooner (0.5 s, doubling up to pollIntervalMs): writes stay
   * frozen until a poll succeeds, so a short outage should not hold them for a whole interval.
   */
  function nextDelay(): number {
    if (failedInRow === 0) return options.pollIntervalMs;
    return Math.min(options.pollIntervalMs, RETRY_FIRST_MS * 2 ** (failedInRow - 1));
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => void run(), nextDelay());
  }

  function run(): Promise<void> {
    current ??= pollOnce()
      .catch((err: unknown) => logger.error({ err }, 'nacos companion: poll failed'))
      .finally(() => {
        current = undefined;
        schedule();
      });
    return current;
  }

  return {
    start() {
      stopped = false;
      void run();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      writeBack.stop();
      await current;
      await writeBack.idle();
      clearTimeout(timer);
      await client.http.close();
    },
    status() {
      const refused = new Set(conditions.list().filter((c) => c.kind === 'refused').map((c) => c.subject));
      return {
        server: client.http.server,
        auth: client.auth.mode,
        polls: { ...polls },
        services,
        instances,
        clusters: [...clusters].map(([cluster, healthChecker]) => ({ cluster, healthChecker, refused: refused.has(cluster) })),
        writes: writeBack.stats(),
        requests: deps.limiter.taken,
        conditions: conditions.list(),
      };
    },
  };
}
