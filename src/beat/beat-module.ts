/**
 * The beat module: owns the liveness of ephemeral instances. It remembers when each last beat,
 * marks it unhealthy after the heartbeat timeout and deletes it after the delete timeout, both
 * through the registry (so every transition is a registry event), holds deletions during mass
 * expiry (self-preservation) and does not count its own stalls against the instances.
 *
 * Decisions are the pure functions of expiry.ts and preservation.ts; this file owns the timer,
 * the clock bookkeeping and the wiring.
 */
import type { Logger } from 'pino';
import { applyExternal } from '../health/state-machine.js';
import { instanceKey, type InstanceRecord } from '../registry/model.js';
import type { Registry, RegistryEvent } from '../registry/registry.js';
import type { BeatConfig } from './config.js';
import { stageOf, stallOf } from './expiry.js';
import { decidePreservation, IDLE, transitionOf, type PreservationInput, type PreservationPolicy, type PreservationState } from './preservation.js';
import { beatStatus, type BeatCounters, type BeatStatus } from './status.js';
import { readSettings, type BeatSettings } from './switches.js';
import { createBeatTable } from './table.js';
import { parseTimeouts, resolveTimeouts, type BeatTimeouts, type PartialTimeouts } from './timeouts.js';
import { createRenewalWindow, type RenewalWindow } from './window.js';

export interface BeatModuleDeps {
  readonly registry: Registry;
  readonly config: BeatConfig;
  readonly logger: Logger;
  readonly now?: () => number;
  /** false: no timer; the caller runs `sweep()` (tests with literal times). */
  readonly sweepTimer?: boolean;
  /**
   * Cluster mode: is this node responsible for `key` now (it holds the shard's lease)? Only those
   * instances are marked unhealthy and deleted here; the others are replicas kept for listing. An
   * instance that becomes this node's (takeover) gets one full delete timeout from then.
   */
  readonly owns?: (key: string) => boolean;
  /** Cluster mode: a peer holds deletions (self-preservation is cluster-wide). */
  readonly peerHolds?: () => boolean;
  /** Cluster mode: forwarding and replication figures, shown in the status beside the beat module's. */
  readonly clusterStatus?: () => Readonly<Record<string, unknown>>;
}

export interface BeatModule {
  start(): void;
  stop(): void;
  /** A beat for `key`; false when no ephemeral instance with that key is tracked. */
  beat(key: string): boolean;
  /** The interval to tell the client of `key` (its own, else the switch). */
  intervalFor(key: string | undefined): number;
  /** The timeouts that apply to `key` (its own, else the defaults). */
  timeoutsOf(key: string): BeatTimeouts;
  /** The timeouts of an instance without `preserved.*` metadata. */
  defaults(): BeatTimeouts;
  settings(): BeatSettings;
  /** One sweep at `now()`; the timer calls it every `sweepIntervalMs`. */
  sweep(): void;
  status(): BeatStatus;
  /** Whether this node's self-preservation holds deletions now (shared with peers in cluster mode). */
  holding(): boolean;
  /** Instances a peer deleted by expiry, for the cluster-wide count of deletions in the window. */
  peerExpired(n: number): void;
}

export function createBeatModule(deps: BeatModuleDeps): BeatModule {
  const { registry, config } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.logger;
  const table = createBeatTable();
  const counters: BeatCounters = { beats: 0, markedUnhealthy: 0, revived: 0, deleted: 0, held: 0, stalledMs: 0, lastStall: null, lastSweep: null };
  const owns = deps.owns;
  // Cluster mode: instances this node was responsible for at the last sweep; beats kept for others.
  let ownedCount = 0;
  let replicaBeats = 0;
  let takenOver = 0;
  let window: RenewalWindow = createRenewalWindow(config.selfPreservation.windowMs, config.sweepIntervalMs, 0);
  let pres: PreservationState = IDLE;
  let lastSeen = now();
  // Σ 1/interval over instances with their own interval; the rest beat at the switch's interval.
  let ownRate = 0;
  let ownIntervalCount = 0;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  // Read on every beat answer: cached, and re-read when a switch changes.
  let cachedSettings: BeatSettings | undefined;
  const settings = (): BeatSettings => (cachedSettings ??= readSettings(registry, config));
  const defaultsOf = (s: BeatSettings): BeatTimeouts => ({
    intervalMs: s.clientBeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    deleteTimeoutMs: config.deleteTimeoutMs,
  });
  const virtual = (at: number): number => at - counters.stalledMs;
  // Beats are expected only for the instances this node is responsible for (all, on one node).
  const ownedShare = (): number => (owns === undefined || table.size === 0 ? 1 : ownedCount / table.size);
  const ratePerMs = (s: BeatSettings): number => ((table.size - ownIntervalCount) / s.clientBeatIntervalMs + ownRate) * ownedShare();
  const policyOf = (s: BeatSettings): PreservationPolicy => ({ ...config.selfPreservation, enabled: s.selfPreservation });

  /** Accounts a stall of the process seen between the last clock reading and `at`. */
  function observe(at: number): void {
    const stall = stallOf(lastSeen, at, config.sweepIntervalMs, config.stallToleranceMs);
    if (at > lastSeen) lastSeen = at;
    if (stall === 0) return;
    counters.stalledMs += stall;
    counters.lastStall = { ms: stall, at };
    if (stall < config.sweepIntervalMs) return;
    log.warn({ stallMs: stall, totalStalledMs: counters.stalledMs }, 'vigil itself stalled; every beat deadline is extended by the stall');
    registry.announce({ type: 'beat-protection', what: 'stall-compensated', reason: 'stall', at, detail: { stallMs: stall } });
  }

  function ownIntervalDelta(own: PartialTimeouts | undefined, sign: 1 | -1): void {
    if (own?.intervalMs === undefined) return;
    ownRate += sign / own.intervalMs;
    ownIntervalCount += sign;
  }

  function track(key: string, rec: InstanceRecord, at: number): void {
    const parsed = parseTimeouts(rec.instance.metadata);
    const own = parsed.ok ? parsed.value : undefined;
    const known = table.slotOf(key);
    if (known !== undefined) {
      // An update (new metadata, weight…) is not a beat: keep the last beat, take the new timeouts.
      ownIntervalDelta(table.own(known), -1);
      table.setOwn(known, own);
      ownIntervalDelta(own, 1);
      return;
    }
    const slot = table.add(key, virtual(at), own);
    ownIntervalDelta(own, 1);
    // Registered unhealthy: the first beat makes it healthy, as any beat to an unhealthy instance.
    table.setStale(slot, !rec.health.healthy);
    if (owns === undefined || owns(key)) window.beat();
  }

  function untrack(key: string): void {
    const slot = table.slotOf(key);
    if (slot === undefined) return;
    ownIntervalDelta(table.own(slot), -1);
    table.remove(key);
  }

  function onEvent(e: RegistryEvent): void {
    if (e.type === 'switch-changed') {
      cachedSettings = undefined;
    } else if (e.type === 'instance-registered') {
      if (e.record.instance.ephemeral) track(e.key, e.record, now());
    } else if (e.type === 'instance-updated') {
      // Turned ephemeral: tracked from now. Already tracked: new timeouts only (a re-registration
      // through the API is a sign of life, and its route beats explicitly).
      if (e.record.instance.ephemeral) track(e.key, e.record, now());
      else untrack(e.key);
    } else if (e.type === 'instance-deregistered') {
      untrack(e.key);
    } else if (e.type === 'health-changed' && e.origin === 'peer' && e.record.instance.ephemeral) {
      // A replica follows its owner's verdict, so that after a takeover the next beat revives it.
      const slot = table.slotOf(e.key);
      if (slot !== undefined) table.setStale(slot, !e.record.health.healthy);
    }
  }

  function setHealthy(key: string, healthy: boolean, reason: string, at: number): boolean {
    const rec = registry.get(key);
    if (!rec) return false;
    const t = applyExternal(rec.health, healthy, reason, 'beat', at);
    if (t.state !== rec.health) registry.setHealth(key, t.state, t.change);
    return t.change !== undefined;
  }

  function beat(key: string): boolean {
    const at = now();
    observe(at);
    const slot = table.slotOf(key);
    if (slot === undefined) return false;
    if (owns !== undefined && !owns(key)) {
      // Not ours (the owner was unreachable, or the shard is between owners): remembered, so the
      // beat counts if this node takes the shard over; the verdict stays with the responsible node.
      table.extend(slot, virtual(at));
      replicaBeats++;
      return true;
    }
    counters.beats++;
    window.beat();
    if (table.touch(slot, virtual(at)) && setHealthy(key, true, 'beat-resumed', at)) counters.revived++;
    return true;
  }

  /** Says so in the log and the event stream when self-preservation engages or lets go. */
  function report(what: 'engaged' | 'released' | 'exhausted', input: PreservationInput, at: number): void {
    const detail = { population: input.population, due: input.due, deletedInWindow: input.deletedInWindow, beats: Math.round(input.beats), expected: Math.round(input.expected) };
    const reason = pres.reason ?? 'condition-cleared';
    if (what === 'engaged') log.warn({ reason, ...detail }, 'self-preservation engaged: ephemeral instances are not deleted');
    else log.info({ reason, what, ...detail }, 'self-preservation released: ephemeral instances are deleted again');
    registry.announce({ type: 'beat-protection', what, reason, at, detail });
  }

  function sweep(): void {
    const started = now();
    observe(started);
    const v = virtual(started);
    const s = settings();
    const defaults = defaultsOf(s);
    window.advance(v, ratePerMs(s));
    const toMark: number[] = [];
    const due: number[] = [];
    const anyOwn = table.ownCount > 0;
    let owned = 0;
    for (let slot = 0, end = table.end; slot < end; slot++) {
      const key = table.keyAt(slot);
      if (key === undefined) continue;
      if (owns !== undefined) {
        if (!owns(key)) {
          table.setMine(slot, false);
          continue;
        }
        if (!table.isMine(slot)) {
          // Taken over: the old owner's beats were never seen here, so a full delete timeout from now.
          table.setMine(slot, true);
          table.extend(slot, v);
          takenOver++;
        }
      }
      owned++;
      const t = anyOwn ? resolveTimeouts(table.own(slot), defaults) : defaults;
      const stage = stageOf(table.lastAt(slot), t, v);
      if (stage === 'alive') continue;
      if (!table.isStale(slot)) toMark.push(slot);
      if (stage === 'expired') due.push(slot);
    }
    for (const slot of toMark) {
      const key = table.keyAt(slot)!;
      table.setStale(slot, true);
      if (setHealthy(key, false, 'beat-timeout', started)) counters.markedUnhealthy++;
    }
    ownedCount = owned;
    const totals = window.totals();
    const input: PreservationInput = { population: table.size, due: due.length, deletedInWindow: totals.deleted, beats: totals.beats, expected: totals.expected, windowFull: totals.full };
    const next = decidePreservation(pres, input, policyOf(s), started);
    const what = transitionOf(pres, next);
    pres = next;
    if (what) report(what, input, started);
    counters.held = pres.engaged || !s.expireInstance || deps.peerHolds?.() === true ? due.length : 0;
    if (counters.held === 0 && due.length > 0) {
      const keys = due.map((slot) => table.keyAt(slot)!);
      for (const key of keys) {
        const rec = registry.get(key);
        if (rec && registry.deregister(rec.instance, 'expired')) counters.deleted++;
      }
      window.deleted(keys.length);
    }
    const finished = now();
    counters.lastSweep = { at: started, durationMs: finished - started, due: due.length };
    // The next timer turn is an interval after `finished`, so a gap inside the sweep would be seen by
    // nobody: look at it here, by the same rule as between turns. A sweep's own work up to an
    // interval (plus the tolerance) is not a stall; a stop that lands in the middle of it is.
    observe(finished);
  }

  function loop(): void {
    try {
      sweep();
    } catch (err) {
      log.error({ err }, 'beat sweep failed');
    }
    timer = setTimeout(loop, config.sweepIntervalMs);
    timer.unref();
  }

  return {
    start() {
      if (unsubscribe) return;
      cachedSettings = undefined;
      const at = now();
      lastSeen = at;
      window = createRenewalWindow(config.selfPreservation.windowMs, config.sweepIntervalMs, virtual(at));
      unsubscribe = registry.subscribe(onEvent);
      for (const rec of registry.list()) if (rec.instance.ephemeral) track(instanceKey(rec.instance), rec, at);
      if (deps.sweepTimer !== false) {
        timer = setTimeout(loop, config.sweepIntervalMs);
        timer.unref();
      }
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
      unsubscribe?.();
      unsubscribe = undefined;
    },
    beat,
    intervalFor(key) {
      const slot = key === undefined ? undefined : table.slotOf(key);
      const own = slot === undefined ? undefined : table.own(slot)?.intervalMs;
      return own ?? settings().clientBeatIntervalMs;
    },
    timeoutsOf(key) {
      const slot = table.slotOf(key);
      return resolveTimeouts(slot === undefined ? undefined : table.own(slot), defaultsOf(settings()));
    },
    defaults: () => defaultsOf(settings()),
    settings,
    sweep,
    status: () => {
      const st = beatStatus({ counters, table, pres, totals: window.totals(), settings: settings(), config });
      if (owns === undefined) return st;
      return { ...st, cluster: { responsibleFor: ownedCount, replicas: table.size - ownedCount, replicaBeats, takenOver, peerHolds: deps.peerHolds?.() === true, ...deps.clusterStatus?.() } };
    },
    holding: () => pres.engaged,
    peerExpired(n) {
      window.deleted(n);
    },
  };
}
