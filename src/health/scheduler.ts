/**
 * One probe task per persistent instance. Each task has its own timer: a random first delay
 * spreads start-up, then the interval (fast while health is changing, slow while down, or
 * adaptive), with jitter. A task whose previous probe is still running skips and backs off. A
 * global cap and per-type caps bound concurrency. Decisions are the pure functions of
 * schedule.ts and state-machine.ts; this file only owns timers and wiring.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { Registry, RegistryEvent } from '../registry/registry.js';
import { groupedName, instanceKey, type CheckerConfig, type Instance } from '../registry/model.js';
import type { CheckerRegistry } from './checker-registry.js';
import type { ProbeResult, Target } from './contract.js';
import { createHistogram } from './lag-histogram.js';
import type { ResourcePool } from './resources.js';
import type { Runner } from './runner.js';
import { ADAPTIVE_DEFAULTS, backoffAfterSkip, initialDelay, nextDelay, updateEwma, type IntervalPolicy } from './schedule.js';
import { applyProbe, expireOverride, type HealthState } from './state-machine.js';

export interface CheckDefaults {
  readonly checker: CheckerConfig;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fastIntervalMs: number;
  readonly downIntervalMs: number;
  readonly jitter: number;
  readonly rise: number;
  readonly fall: number;
  readonly adaptive: boolean;
  readonly maxConcurrent: number;
  readonly perTypeConcurrency: Readonly<Record<string, number>>;
}

export interface SchedulerDeps {
  readonly registry: Registry;
  readonly checkers: CheckerRegistry;
  readonly runner: Runner;
  readonly resources: ResourcePool;
  readonly defaults: CheckDefaults;
  readonly random?: () => number;
  readonly now?: () => number;
}

interface Task {
  readonly key: string;
  timer: NodeJS.Timeout | undefined;
  dueAt: number;
  running: boolean;
  skips: number;
  ewma: number | undefined;
}

export interface SchedulerStats {
  readonly tasks: number;
  readonly probes: number;
  readonly skipped: number;
  readonly exempt: number;
  readonly running: number;
  lagQuantile(q: number): number;
  resetLag(): void;
}

export interface Scheduler {
  start(): void;
  stop(): Promise<void>;
  readonly stats: SchedulerStats;
}

/** The switch that turns all active checking off (whitelisting everything at once). */
export const ACTIVE_CHECKS_SWITCH = 'activeChecks';

export function createScheduler(deps: SchedulerDeps): Scheduler {
  const { registry, checkers, runner, resources, defaults } = deps;
  const random = deps.random ?? Math.random;
  const now = deps.now ?? Date.now;
  const tasks = new Map<string, Task>();
  const global = pLimit(defaults.maxConcurrent);
  const perType = new Map<string, LimitFunction>();
  const stopping = new AbortController();
  const inflight = new Set<Promise<void>>();
  const lag = createHistogram();
  let probes = 0;
  let skipped = 0;
  let exempt = 0;
  let unsubscribe: (() => void) | undefined;

  const limiterFor = (type: string): LimitFunction | undefined => {
    const cap = defaults.perTypeConcurrency[type];
    if (cap === undefined) return undefined;
    let l = perType.get(type);
    if (!l) perType.set(type, (l = pLimit(cap)));
    return l;
  };

  const configOf = (inst: Instance): CheckerConfig => registry.resolveChecker(inst) ?? defaults.checker;

  const policyOf = (cfg: CheckerConfig): IntervalPolicy => {
    const adaptive = defaults.adaptive ? ADAPTIVE_DEFAULTS[cfg.type as keyof typeof ADAPTIVE_DEFAULTS] : undefined;
    return {
      intervalMs: cfg.intervalMs ?? defaults.intervalMs,
      fastIntervalMs: cfg.fastIntervalMs ?? defaults.fastIntervalMs,
      downIntervalMs: cfg.downIntervalMs ?? defaults.downIntervalMs,
      jitter: defaults.jitter,
      ...(adaptive ? { adaptive } : {}),
    };
  };

  function schedule(task: Task, delayMs: number): void {
    clearTimeout(task.timer);
    task.dueAt = now() + delayMs;
    task.timer = setTimeout(tick, delayMs, task);
  }

  function add(key: string): void {
    if (tasks.has(key) || stopping.signal.aborted) return;
    const rec = registry.get(key);
    if (!rec || rec.instance.ephemeral) return;
    const task: Task = { key, timer: undefined, dueAt: 0, running: false, skips: 0, ewma: undefined };
    tasks.set(key, task);
    schedule(task, initialDelay(policyOf(configOf(rec.instance)), random));
  }

  function remove(key: string, inst?: Instance): void {
    const task = tasks.get(key);
    if (!task) return;
    clearTimeout(task.timer);
    tasks.delete(key);
    if (inst) void resources.releaseTarget(inst.ip, configOf(inst).port ?? inst.port);
  }

  /** True when the instance is not to be probed now: switch off, whitelisted or overridden. */
  function isExempt(inst: Instance, health: HealthState, at: number): boolean {
    if (registry.getSwitch(ACTIVE_CHECKS_SWITCH) === false) return true;
    if (health.override) return true;
    return registry.whitelistMatcher(at).match(inst) !== undefined;
  }

  function tick(task: Task): void {
    const rec = registry.get(task.key);
    if (!rec || rec.instance.ephemeral) return remove(task.key);
    const at = now();
    let health = rec.health;
    if (health.override?.until !== undefined && health.override.until <= at) {
      const expired = expireOverride(health, at);
      registry.setHealth(task.key, expired.state, expired.change);
      health = expired.state;
    }
    const cfg = configOf(rec.instance);
    const policy = policyOf(cfg);
    const delay = nextDelay(policy, health, random, task.ewma);
    if (task.running) {
      task.skips++;
      skipped++;
      return schedule(task, backoffAfterSkip(delay, task.skips, policy.downIntervalMs * 4));
    }
    task.skips = 0;
    if (isExempt(rec.instance, health, at)) {
      exempt++;
      return schedule(task, delay);
    }
    const dueAt = task.dueAt;
    schedule(task, delay);
    task.running = true;
    const run = (): Promise<void> => probe(task, rec.instance, cfg, dueAt);
    const typeLimit = limiterFor(cfg.type);
    const p = global(() => (typeLimit ? typeLimit(run) : run())).finally(() => {
      task.running = false;
      inflight.delete(p);
    });
    inflight.add(p);
  }

  async function probe(task: Task, inst: Instance, cfg: CheckerConfig, dueAt: number): Promise<void> {
    if (stopping.signal.aborted || tasks.get(task.key) !== task) return;
    lag.record(now() - dueAt);
    probes++;
    const target: Target = {
      host: inst.ip,
      port: cfg.port ?? inst.port,
      service: groupedName(inst),
      cluster: inst.cluster,
      metadata: inst.metadata,
    };
    let result: ProbeResult;
    if (!checkers.has(cfg.type)) {
      result = { status: 'fail', reason: 'checker-unavailable', detail: `checker type "${cfg.type}" is not loaded`, type: cfg.type, latencyMs: 0, startedAt: now() };
    } else {
      result = await runner.run({
        checker: checkers.get(cfg.type),
        target,
        options: cfg.options,
        timeoutMs: cfg.timeoutMs ?? defaults.timeoutMs,
        resources: resources.scope(cfg.type),
        signal: stopping.signal,
      });
    }
    if (result.reason === 'aborted' || tasks.get(task.key) !== task) return;
    const policy = policyOf(cfg);
    if (policy.adaptive) task.ewma = updateEwma(task.ewma, result.latencyMs, policy.adaptive);
    const current = registry.get(task.key);
    if (!current) return;
    const before = current.health;
    const { state, change } = applyProbe(before, result.status, result.reason, now(), {
      rise: cfg.rise ?? defaults.rise,
      fall: cfg.fall ?? defaults.fall,
    });
    if (change) registry.setHealth(task.key, state, change, result);
    else registry.recordProbe(task.key, result, state);
    // Entering or leaving a transition changes the interval: re-plan from now.
    const phase = (s: HealthState) => (s.healthy ? s.failStreak > 0 : s.okStreak > 0) || !s.healthy;
    if (change || phase(before) !== phase(state)) schedule(task, nextDelay(policy, state, random, task.ewma));
  }

  function onEvent(e: RegistryEvent): void {
    switch (e.type) {
      case 'instance-registered':
        if (!e.record.instance.ephemeral) add(e.key);
        break;
      case 'instance-updated':
        if (e.record.instance.ephemeral) remove(e.key, e.previous);
        else add(e.key);
        break;
      case 'instance-deregistered':
        remove(e.key, e.instance);
        break;
      default:
        break;
    }
  }

  return {
    start() {
      unsubscribe = registry.subscribe(onEvent);
      for (const rec of registry.list()) if (!rec.instance.ephemeral) add(instanceKey(rec.instance));
    },
    async stop() {
      unsubscribe?.();
      stopping.abort(new DOMException('vigil is stopping', 'AbortError'));
      for (const t of tasks.values()) clearTimeout(t.timer);
      tasks.clear();
      // Queued probes see the abort and return at once, so every in-flight promise settles.
      await Promise.allSettled([...inflight]);
      await resources.closeAll();
    },
    stats: {
      get tasks() {
        return tasks.size;
      },
      get probes() {
        return probes;
      },
      get skipped() {
        return skipped;
      },
      get exempt() {
        return exempt;
      },
      get running() {
        return inflight.size;
      },
      lagQuantile: (q) => lag.quantile(q),
      resetLag: () => lag.reset(),
    },
  };
}
