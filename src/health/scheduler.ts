/**
 * One probe task per persistent instance, filed on a timing wheel: a random first delay spreads
 * start-up, then the interval (fast while health is changing, slow while down, or
 * adaptive), with jitter. At most one probe of an instance runs at any time, whatever happens to
 * its task meanwhile (re-registration, config change, override): a due probe whose instance is
 * still being probed skips and backs off. Per-type caps are taken before the global cap, so a slow
 * type waits in its own queue without holding global slots; when a queue is full a due probe is
 * shed (counted) instead of queued, so overload costs lag, not memory.
 * Decisions are the pure functions of schedule.ts and state-machine.ts; this file owns the wiring.
 */
import type { Registry, RegistryEvent } from '../registry/registry.js';
import { groupedName, type CheckerConfig, type Instance } from '../registry/model.js';
import type { CheckerRegistry } from './checker-registry.js';
import { FD_EXHAUSTED } from './classify.js';
import type { Checker, ProbeResult, ResourceCache, Target } from './contract.js';
import { createHistogram } from './lag-histogram.js';
import { createProbeGate, type Lane } from './probe-gate.js';
import type { ResourcePool } from './resources.js';
import type { ProbeRequest, Runner } from './runner.js';
import { ADAPTIVE_DEFAULTS, backoffAfterSkip, initialDelay, nextDelay, updateEwma, type IntervalPolicy } from './schedule.js';
import { applyProbe, expireOverride, type HealthState, type Thresholds } from './state-machine.js';
import { createTimingWheel, type WheelEntry } from './timing-wheel.js';

/** Granularity of the probe timers: due probes are started in batches every this many ms. */
export const WHEEL_SLOT_MS = 10;

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
  /** Called after each probe result is applied, with the health it left (the primaries tracker). */
  readonly onProbe?: (key: string, result: ProbeResult, health: HealthState) => void;
  /** Told of each probe that failed because vigil ran out of descriptors (its result is discarded). */
  readonly onFdExhausted?: () => void;
  /**
   * Cluster mode: "do I own this key now?" (cluster-node.ts `ownsKey`). A key this node does not
   * own is not probed, and a result that arrives after the lease was lost is dropped.
   */
  readonly owns?: (key: string) => boolean;
  /** Told of every completed probe and how late it started (metrics, history); must not throw. */
  readonly observeProbe?: ProbeObserver;
}

export type ProbeObserver = (key: string, result: ProbeResult, lagMs: number) => void;

/**
 * What the probes of every instance with one checker config share, resolved once per registry
 * generation: one object per distinct config, not per instance.
 */
interface Plan {
  readonly generation: number;
  readonly cfg: CheckerConfig;
  readonly policy: IntervalPolicy;
  readonly thresholds: Thresholds;
  readonly timeoutMs: number;
  readonly checker: Checker | undefined;
  readonly resources: ResourceCache;
  /** The per-type cap this type's probes wait for, if it has one. */
  readonly lane: Lane | undefined;
}

interface Task extends WheelEntry {
  readonly key: string;
  dueAt: number;
  running: boolean;
  /** From the runner's request until the checker's attempt ends (it may outlast the probe: `stuck`). */
  attempting: boolean;
  /** Ends the attempt; one per task, not a closure per probe. */
  settled: (() => void) | undefined;
  skips: number;
  ewma: number | undefined;
  /** Shared with every task of the same config; `target` was built with it. */
  plan: Plan | undefined;
  target: Target | undefined;
  /** The checker's `ctx.wake`: probe this instance on the next slot. */
  wake: (() => void) | undefined;
}

export interface SchedulerStats {
  readonly tasks: number;
  readonly probes: number;
  /** Due probes skipped because the previous probe of the same instance was still running. */
  readonly skipped: number;
  /** Due probes shed because the global queue was full (the node is overloaded). */
  readonly shed: number;
  readonly exempt: number;
  /** Due probes not run because another cluster node owns the instance's shard. */
  readonly notOwned: number;
  readonly running: number;
  /** Probe outcomes since start, keyed `type status reason`, e.g. `tcp ok connected`. */
  outcomes(): Record<string, number>;
  lagQuantile(q: number): number;
  resetLag(): void;
}

export interface Scheduler {
  start(): void;
  stop(): Promise<void>;
  /**
   * Asks for the next probe of `key` within `delayMs`; never delays one already due sooner. A
   * running probe is left alone (its caller asks again when it ends, from `onProbe`).
   */
  probeSoon(key: string, delayMs: number): void;
  readonly stats: SchedulerStats;
}

/** The switch that turns all active checking off (whitelisting everything at once). */
export const ACTIVE_CHECKS_SWITCH = 'activeChecks';

/** A probe result and the health it left, for the onProbe hook. */
interface Applied {
  readonly result: ProbeResult;
  readonly state: HealthState;
}

const isTransitioning = (s: HealthState): boolean => !s.healthy || s.failStreak > 0;

export function createScheduler(deps: SchedulerDeps): Scheduler {
  const { registry, checkers, runner, resources, defaults } = deps;
  const random = deps.random ?? Math.random;
  const now = deps.now ?? Date.now;
  const tasks = new Map<string, Task>();
  /**
   * Instances whose task was removed (deregistered, or turned ephemeral) while its probe ran: a task
   * added again for the same key waits for that probe. A running task says so itself (`running`), so
   * the steady path touches no set.
   */
  const busy = new Set<string>();
  /**
   * Instances whose task was removed while its checker attempt had not ended: with `attempting`,
   * a checker attempt that outlasts the runner's answer at its deadline (a plugin that ignores its
   * signal) blocks new attempts on the instance, so such a plugin holds at most one hanging attempt
   * per instance; each due probe counts as a timeout.
   */
  const stuck = new Set<string>();
  const wheel = createTimingWheel<Task>(WHEEL_SLOT_MS, now());
  let pump: NodeJS.Timeout | undefined;
  // Global and per-type caps: start() runs a probe the caps admit, now or when a slot frees up.
  const gate = createProbeGate<Task, Plan>(defaults.maxConcurrent, (plan) => plan.lane, (task, plan, dueAt) => void probe(task, plan, dueAt));
  const lanes = new Map<string, Lane>();
  let inflight = 0;
  let drained: (() => void) | undefined;
  // Plans depend only on the config (and the loaded checkers): one per config and generation.
  let plans = new Map<CheckerConfig, Plan>();
  let plansGeneration = -1;
  const lag = createHistogram();
  /** Outcome counts as `type status reason` → count; cells found through nested maps, so a probe builds no key string. */
  const outcomes = new Map<string, number>();
  const outcomeCells = new Map<string, Map<string, Map<string, { n: number }>>>();
  let stopped = false;
  let probes = 0;
  let skipped = 0;
  let shed = 0;
  let exempt = 0;
  let notOwned = 0;
  let unsubscribe: (() => void) | undefined;

  const laneFor = (type: string): Lane | undefined => {
    const cap = defaults.perTypeConcurrency[type];
    if (cap === undefined) return undefined;
    let l = lanes.get(type);
    if (!l) lanes.set(type, (l = gate.lane(cap)));
    return l;
  };

  const configOf = (inst: Instance): CheckerConfig => registry.resolveChecker(inst) ?? defaults.checker;

  function sharedPlan(cfg: CheckerConfig, generation: number): Plan {
    if (plansGeneration !== generation) {
      plans = new Map();
      plansGeneration = generation;
    }
    let plan = plans.get(cfg);
    if (plan) return plan;
    const adaptive = defaults.adaptive ? ADAPTIVE_DEFAULTS[cfg.type as keyof typeof ADAPTIVE_DEFAULTS] : undefined;
    plan = {
      generation,
      cfg,
      policy: {
        intervalMs: cfg.intervalMs ?? defaults.intervalMs,
        fastIntervalMs: cfg.fastIntervalMs ?? defaults.fastIntervalMs,
        downIntervalMs: cfg.downIntervalMs ?? defaults.downIntervalMs,
        jitter: defaults.jitter,
        ...(adaptive ? { adaptive } : {}),
      },
      thresholds: { rise: cfg.rise ?? defaults.rise, fall: cfg.fall ?? defaults.fall },
      timeoutMs: cfg.timeoutMs ?? defaults.timeoutMs,
      checker: checkers.has(cfg.type) ? checkers.get(cfg.type) : undefined,
      resources: resources.scope(cfg.type),
      lane: laneFor(cfg.type),
    };
    plans.set(cfg, plan);
    return plan;
  }

  // `group@@service` once per service, not a concatenated string per instance (~66 bytes each).
  const serviceNames = new Map<string, string>();
  const serviceName = (inst: Instance): string => {
    const name = groupedName(inst);
    const known = serviceNames.get(name);
    if (known !== undefined) return known;
    serviceNames.set(name, name);
    return name;
  };

  function planOf(task: Task, inst: Instance): Plan {
    const generation = registry.generation;
    if (task.plan?.generation === generation) return task.plan;
    const plan = sharedPlan(configOf(inst), generation);
    const { cfg } = plan;
    task.target = { host: inst.ip, port: cfg.port ?? inst.port, service: serviceName(inst), cluster: inst.cluster, metadata: inst.metadata };
    task.wake ??= () => api.probeSoon(task.key, 0);
    task.plan = plan;
    return plan;
  }

  function schedule(task: Task, delayMs: number): void {
    task.dueAt = now() + delayMs;
    wheel.add(task, task.dueAt);
  }

  /**
   * Files the next probe `delay` after this one's due time rather than after now: the wheel pops a
   * task up to a slot late (and the pump timer may be later still), and counting from now lost that
   * each interval — 1–2 % of the due probes at a 1 s interval. After a stall of more than half the
   * delay, counting restarts from now: no burst of catch-up probes.
   */
  function keepCadence(task: Task, dueAt: number, at: number, delay: number): void {
    if (at - dueAt > delay / 2) return schedule(task, delay);
    task.dueAt = dueAt + delay;
    wheel.add(task, task.dueAt);
  }

  function add(key: string): void {
    if (tasks.has(key) || stopped) return;
    const rec = registry.peek(key);
    if (!rec || rec.instance.ephemeral) return;
    const task: Task = { key, slot: -1, dueAt: 0, running: false, attempting: false, settled: undefined, skips: 0, ewma: undefined, plan: undefined, target: undefined, wake: undefined };
    tasks.set(key, task);
    schedule(task, initialDelay(planOf(task, rec.instance).policy, random));
  }

  function remove(key: string, inst?: Instance): void {
    const task = tasks.get(key);
    if (!task) return;
    wheel.cancel(task);
    tasks.delete(key);
    if (task.running) busy.add(key);
    if (task.attempting) stuck.add(key);
    if (inst) void resources.releaseTarget(inst.ip, configOf(inst).port ?? inst.port);
  }

  /** True when the instance is not to be probed now: switch off, whitelisted or overridden. */
  function isExempt(inst: Instance, health: HealthState, at: number): boolean {
    if (health.override) return true;
    if (registry.getSwitch(ACTIVE_CHECKS_SWITCH) === false) return true;
    return registry.whitelistMatcher(at).match(inst) !== undefined;
  }

  function tick(task: Task): void {
    const rec = registry.peek(task.key);
    if (!rec || rec.instance.ephemeral) return remove(task.key);
    const at = now();
    let health = rec.peekHealth();
    if (health.override?.until !== undefined && health.override.until <= at) {
      const expired = expireOverride(health, at);
      registry.setHealth(task.key, expired.state, expired.change);
      health = expired.state;
    }
    const plan = planOf(task, rec.instance);
    const delay = nextDelay(plan.policy, health, random, task.ewma);
    if (task.running || busy.has(task.key)) {
      task.skips++;
      skipped++;
      return schedule(task, backoffAfterSkip(delay, task.skips, plan.policy.downIntervalMs * 4));
    }
    task.skips = 0;
    if (isExempt(rec.instance, health, at)) {
      exempt++;
      return schedule(task, delay);
    }
    if (deps.owns && !deps.owns(task.key)) {
      notOwned++;
      return schedule(task, delay);
    }
    if (task.attempting || stuck.has(task.key)) {
      schedule(task, delay);
      const detail = 'the previous attempt has not ended (the checker ignores its abort signal)';
      return report(task.key, applyResult(task, plan, { status: 'fail', reason: 'timeout', detail, type: plan.cfg.type, latencyMs: plan.timeoutMs, startedAt: at }));
    }
    if (gate.full(plan.lane, defaults.maxConcurrent)) {
      shed++;
      return schedule(task, delay);
    }
    const dueAt = task.dueAt;
    keepCadence(task, dueAt, at, delay);
    task.running = true;
    inflight++;
    gate.enter(task, plan, dueAt);
  }

  function done(task: Task): void {
    task.running = false;
    if (busy.size > 0 && tasks.get(task.key) !== task) busy.delete(task.key);
    if (--inflight === 0) drained?.();
  }

  function countOutcome({ type, status, reason }: ProbeResult): void {
    let byStatus = outcomeCells.get(type);
    if (!byStatus) outcomeCells.set(type, (byStatus = new Map()));
    let byReason = byStatus.get(status);
    if (!byReason) byStatus.set(status, (byReason = new Map()));
    const cell = byReason.get(reason);
    if (cell) cell.n++;
    else byReason.set(reason, { n: 1 });
  }

  function outcomeCounts(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(outcomes);
    for (const [type, byStatus] of outcomeCells) {
      for (const [status, byReason] of byStatus) for (const [reason, { n }] of byReason) out[`${type} ${status} ${reason}`] = n;
    }
    return out;
  }

  function internalError(err: unknown): void {
    const key = `internal-error ${(err as Error)?.message ?? String(err)}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }

  /** Runs one admitted probe and applies its result; never rejects. Gives its slots back at the end. */
  async function probe(task: Task, plan: Plan, dueAt: number): Promise<void> {
    let applied: Applied | undefined;
    try {
      if (!stopped && tasks.get(task.key) === task) {
        const startedAt = now();
        const lagMs = startedAt - dueAt;
        lag.record(lagMs);
        probes++;
        const result = plan.checker ? await runner.run(requestOf(task, plan, plan.checker)) : unavailable(plan, startedAt);
        applied = accept(task, plan, result, lagMs);
      }
    } catch (err) {
      // A bug here must not become an unhandled rejection that takes the daemon down.
      internalError(err);
    }
    done(task);
    // After done(): the hook may ask for this instance's next probe (probeSoon skips running tasks).
    report(task.key, applied);
    gate.leave(plan);
  }

  /** The runner's request for a probe of `task`; it is `attempting` until the checker's attempt ends. */
  function requestOf(task: Task, plan: Plan, checker: Checker): ProbeRequest {
    task.attempting = true;
    task.settled ??= () => {
      task.attempting = false;
      if (stuck.size > 0 && tasks.get(task.key) !== task) stuck.delete(task.key);
    };
    return {
      checker,
      target: task.target!,
      options: plan.cfg.options,
      timeoutMs: plan.timeoutMs,
      resources: plan.resources,
      onCheckerSettled: task.settled,
      wake: task.wake,
    };
  }

  const unavailable = (plan: Plan, startedAt: number): ProbeResult => ({
    status: 'fail',
    reason: 'checker-unavailable',
    detail: `checker type "${plan.cfg.type}" is not loaded`,
    type: plan.cfg.type,
    latencyMs: 0,
    startedAt,
  });

  /** Passes an applied result to the onProbe hook; a throw there is counted, never propagated. */
  function report(key: string, applied: Applied | undefined): void {
    if (!applied || !deps.onProbe) return;
    try {
      deps.onProbe(key, applied.result, applied.state);
    } catch (err) {
      internalError(err);
    }
  }

  /** Applies a finished probe's result, unless it no longer counts (see each case). */
  function accept(task: Task, plan: Plan, result: ProbeResult, lagMs: number): Applied | undefined {
    if (result.reason === 'aborted' || tasks.get(task.key) !== task) return undefined;
    // The lease went while the probe ran: another node decides this instance now.
    if (deps.owns && !deps.owns(task.key)) return undefined;
    // Our own descriptor shortage says nothing about the target: it must not flip anything.
    if (result.reason === FD_EXHAUSTED) {
      deps.onFdExhausted?.();
      return undefined;
    }
    return applyResult(task, plan, result, lagMs);
  }

  /** Counts a result and feeds it to the state machine; re-plans when the interval changes. */
  function applyResult(task: Task, plan: Plan, result: ProbeResult, lagMs = 0): Applied | undefined {
    countOutcome(result);
    deps.observeProbe?.(task.key, result, lagMs);
    if (plan.policy.adaptive) task.ewma = updateEwma(task.ewma, result.latencyMs, plan.policy.adaptive);
    const before = registry.peek(task.key)?.peekHealth();
    if (!before) return undefined;
    // Read before the write below: `before` may be the live record.
    const wasTransitioning = isTransitioning(before);
    const { state, change } = applyProbe(before, result.status, result.reason, now(), plan.thresholds);
    if (change) registry.setHealth(task.key, state, change, result);
    else registry.recordProbe(task.key, result, state);
    // Entering or leaving a transition changes the interval: re-plan from now.
    if (change || wasTransitioning !== isTransitioning(state) || state.okStreak === 1) {
      schedule(task, nextDelay(plan.policy, state, random, task.ewma));
    }
    return { result, state };
  }

  function onEvent(e: RegistryEvent): void {
    if (e.type === 'instance-registered' && !e.record.instance.ephemeral) add(e.key);
    else if (e.type === 'instance-updated') {
      if (e.record.instance.ephemeral) remove(e.key, e.previous);
      else add(e.key);
    } else if (e.type === 'instance-deregistered') remove(e.key, e.instance);
  }

  const api: Scheduler = {
    start() {
      unsubscribe = registry.subscribe(onEvent);
      pump = setInterval(() => {
        for (const task of wheel.due(now())) tick(task);
      }, WHEEL_SLOT_MS);
      for (const key of registry.keys()) add(key);
    },
    async stop() {
      unsubscribe?.();
      stopped = true;
      runner.abortAll();
      clearInterval(pump);
      for (const t of tasks.values()) wheel.cancel(t);
      tasks.clear();
      // Queued probes see `stopped` and return at once, so every in-flight probe ends.
      if (inflight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await resources.closeAll();
    },
    probeSoon(key, delayMs) {
      const task = tasks.get(key);
      if (!task || task.running || stopped) return;
      if (task.dueAt > now() + delayMs) schedule(task, delayMs);
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
      get shed() {
        return shed;
      },
      get exempt() {
        return exempt;
      },
      get notOwned() {
        return notOwned;
      },
      get running() {
        return inflight;
      },
      outcomes: outcomeCounts,
      lagQuantile: (q) => lag.quantile(q),
      resetLag: () => lag.reset(),
    },
  };
  return api;
}
