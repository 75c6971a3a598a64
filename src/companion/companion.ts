/**
 * Companion mode: an existing Nacos server stays the registry of record. Every `pollIntervalMs`
 * the companion reads the server's persistent instances into the local working copy (mirror.ts),
 * the ordinary scheduler probes them, and write-back.ts puts decided health back on the server.
 * A poll that fails freezes writing until one succeeds again. With peers (shared store) each node
 * probes and writes only the instances it owns (`owns`, the cluster's shard leases) and follows the
 * server's view of the others, so a node taking one over starts from what its last owner wrote.
 * Conditions (unreachable server,
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
  /** Undefined: the namespaces the server lists. */
  readonly namespaces: readonly string[] | undefined;
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
  /** With peers: does this node own (probe and write) the instance now? Absent: every instance. */
  readonly owns?: (key: string) => boolean;
}

export interface CompanionStatus {
  readonly server: string;
  readonly auth: string;
  readonly namespaces: { readonly ids: readonly string[]; readonly from: 'config' | 'server' | 'fallback' };
  readonly polls: { readonly ok: number; readonly failed: number; readonly lastOkAt: number | null; readonly lastDurationMs: number | null };
  readonly services: number;
  readonly instances: number;
  /** Instances this node probes and writes back (all of them without peers). */
  readonly owned: number;
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
  let owned = 0;
  let namespaces: CompanionStatus['namespaces'] = { ids: options.namespaces ?? [], from: options.namespaces ? 'config' : 'server' };
  /** Keys this node owned at the end of the last poll (peers only). */
  let ownedBefore = new Set<string>();
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
    ...(deps.owns ? { owns: deps.owns } : {}),
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
      const known = namespaces.from === 'server' ? { knownNamespaces: namespaces.ids } : {};
      outcome = await pollServer(client, deps.mapping, { namespaces: options.namespaces, ...known, groups: options.groups, pageSize: options.pageSize });
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
    const ns = outcome.namespaces;
    if (ns.problem) conditions.raise('namespaces', 'console/namespaces', `cannot list the server's namespaces (${ns.problem.message}); reading ${ns.ids.join(', ')}; set source.nacos.namespaces to choose them`);
    else conditions.clear('namespaces');
    if (ns.from !== namespaces.from || ns.ids.join() !== namespaces.ids.join()) logger.info({ namespaces: ns.ids, from: ns.from }, 'nacos companion: reading these namespaces');
    namespaces = { ids: ns.ids, from: ns.from };

    const dropped = applyMirror(planMirror(localCopy(), outcome, serviceKey), mirrorDeps);
    for (const key of dropped) writeBack.forget(key);
    const mine = mineThisPoll(outcome.instances.keys());
    seedNew(outcome.instances.values(), mirrorDeps, mine);
    for (const d of outcome.instances.values()) writeBack.track(d.key, d.id, d.serverHealthy, startedAt, d.serverViewReliable, mine(d.key));
    for (const [scope, type] of outcome.clusters) if (clusters.get(scope) !== type) writeBack.clearRefusal(scope);
    clusters = new Map(outcome.clusters);
    services = outcome.services;
    instances = outcome.instances.size;
    owned = deps.owns ? ownedBefore.size : instances;
    writeBack.thaw();
    writeBack.reconcile();
  }

  /**
   * Which instances this node probes and writes after this poll. With peers: those it owns now and
   * already owned when the poll began (approximated by the end of the last one), so the server's
   * view it starts from was read after the previous owner had stopped writing. A takeover thus
   * waits for one more poll; a view read before it could undo the previous owner's last write.
   */
  function mineThisPoll(keys: Iterable<string>): (key: string) => boolean {
    const owns = deps.owns;
    if (!owns) return () => true;
    const before = ownedBefore;
    ownedBefore = new Set([...keys].filter((k) => owns(k)));
    return (key) => before.has(key) && ownedBefore.has(key);
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
        owned,
        namespaces,
        clusters: [...clusters].map(([cluster, healthChecker]) => ({ cluster, healthChecker, refused: refused.has(cluster) })),
        writes: writeBack.stats(),
        requests: deps.limiter.taken,
        conditions: conditions.list(),
      };
    },
  };
}
