/**
 * Wiring of the primaries: keeps each instance's role (role.ts) from the scheduler's probe results,
 * the answer of each service that has roles (decide.ts), the pace of its probes (pace.ts), and
 * announces `primary-changed` / `split-brain` through the registry's one event feed. Long-polling
 * clients wait on `changed()`.
 */
import type { Logger } from 'pino';
import type { ProbeResult } from '../health/contract.js';
import { withJitter } from '../health/schedule.js';
import { isOverrideActive, type HealthState } from '../health/state-machine.js';
import { instanceKey, serviceKey, type InstanceRecord, type ServiceId } from '../registry/model.js';
import type { PrimaryRef, Registry, RegistryEvent } from '../registry/registry.js';
import { announceAnswer } from './announce.js';
import { decidePrimary, type Answer, type Member } from './decide.js';
import { isFast, isTrigger, nextProbeDelay, type PacePolicy } from './pace.js';
import { nextRole, roleFact, type RoleState } from './role.js';
import { createWaiters } from './waiters.js';

export interface TrackerDeps {
  readonly registry: Registry;
  readonly policy: PacePolicy;
  /** Asks the scheduler for the next probe of `key` within `delayMs` (Scheduler.probeSoon). */
  readonly hurry: (key: string, delayMs: number) => void;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly logger?: Logger;
}

export interface PrimaryView {
  readonly answer: Answer;
  readonly records: readonly InstanceRecord[];
}

export interface PrimaryTracker {
  /** The scheduler's hook: one probe result of `key` and the health it left. */
  onProbe(key: string, result: ProbeResult, health: HealthState): void;
  /**
   * Cluster mode: a probe result another node published with the health it decided (broadcast,
   * the store's feed, the record loaded at start). Sets the role as `onProbe` does; paces nothing,
   * since the node that owns the instance probes it.
   */
  observe(key: string, result: ProbeResult, health: HealthState): void;
  roleOf(key: string): RoleState | undefined;
  /** The answer for a service, or one cluster of it; undefined when it has no instance there. */
  answer(service: ServiceId, cluster?: string): PrimaryView | undefined;
  /** Resolves true when the service's answer may have changed; false after `timeoutMs`, on abort or stop. */
  changed(service: ServiceId, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** Subscribes to the registry; call after the scheduler started (it asks it for probes). */
  start(): void;
  stop(): void;
  /** Services with roles, and how many of them are in fast confirmation now. */
  stats(): { services: number; fast: number };
}

interface Watch {
  readonly service: ServiceId;
  last: Answer | undefined;
  /** The instances named by `last`, kept so an event can name one that was deregistered since. */
  refs: Map<string, PrimaryRef>;
  triggerAt: number | undefined;
}

const JITTER = 0.1;

export function refOf(rec: InstanceRecord): PrimaryRef {
  const i = rec.instance;
  return { key: instanceKey(i), cluster: i.cluster, ip: i.ip, port: i.port };
}

export function createPrimaryTracker(deps: TrackerDeps): PrimaryTracker {
  const { registry, policy } = deps;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const roles = new Map<string, RoleState>();
  const watches = new Map<string, Watch>();
  const waiters = createWaiters();
  let unsubscribe: (() => void) | undefined;

  const membersOf = (records: readonly InstanceRecord[], at: number): Member[] =>
    records.map((r) => {
      const key = instanceKey(r.instance);
      return { key, healthy: r.health.healthy, overridden: isOverrideActive(r.health, at), role: roles.get(key) };
    });

  /** Decides the service's answer again; announces a change; wakes its waiters either way. */
  function recompute(service: ServiceId): Answer | undefined {
    const sk = serviceKey(service);
    const records = registry.serviceInstances(service);
    const watch = watches.get(sk);
    if (records.length === 0) {
      watches.delete(sk);
      waiters.wake(sk, true);
      return undefined;
    }
    if (!watch) {
      waiters.wake(sk, true);
      return undefined;
    }
    const at = now();
    const next = decidePrimary(membersOf(records, at));
    const prev = watch.last;
    if (prev?.version !== next.version) {
      const refs = new Map(records.map((r) => [instanceKey(r.instance), refOf(r)]));
      announceAnswer(registry, service, { answer: prev, refs: watch.refs }, { answer: next, refs }, at);
      deps.logger?.info({ service: sk, kind: next.kind, version: next.version, candidates: next.candidates }, 'primary answer changed');
      watch.refs = new Map(next.candidates.map((k) => [k, refs.get(k)!]));
      watch.last = next;
    }
    waiters.wake(sk, true);
    return next;
  }

  function hurryOthers(service: ServiceId, except: string): void {
    for (const r of registry.serviceInstances(service)) {
      const key = instanceKey(r.instance);
      if (key === except) continue;
      const pace = { healthy: r.health.healthy, failStreak: r.health.failStreak, lastReason: r.lastProbe?.reason };
      if (nextProbeDelay(pace, true, policy) !== undefined) deps.hurry(key, withJitter(policy.fastIntervalMs, JITTER, random));
    }
  }

  /** Records the role a probe result shows and decides the service again; undefined when it has no role. */
  function setRole(key: string, result: ProbeResult, health: HealthState) {
    const before = roles.get(key);
    if (before === undefined && roleFact(result) === undefined) return undefined;
    const rec = registry.peek(key);
    if (!rec) return undefined;
    const at = now();
    const after = nextRole(before, result, health.healthy, at);
    roles.set(key, after);
    if (after.role !== before?.role) registry.announce({ type: 'role-changed', key, instance: rec.instance, from: before?.role ?? null, to: after.role, at });
    const service = rec.instance;
    const sk = serviceKey(service);
    let watch = watches.get(sk);
    if (!watch) watches.set(sk, (watch = { service: { namespace: service.namespace, group: service.group, service: service.service }, last: undefined, refs: new Map(), triggerAt: undefined }));
    const prev = watch.last;
    const next = recompute(watch.service);
    return next ? { watch, prev, next, at, before, after } : undefined;
  }

  function onEvent(e: RegistryEvent): void {
    if (e.type === 'instance-deregistered') {
      roles.delete(e.key);
      recompute(e.instance);
    } else if (e.type === 'instance-registered' || e.type === 'instance-updated') {
      recompute(e.record.instance);
    } else if (e.type === 'health-changed') {
      // A flip decided by a probe is followed at once by onProbe with the role read by that probe.
      if (e.change.decidedBy === 'checker' && roles.has(e.key)) return;
      recompute(e.record.instance);
    }
  }

  return {
    onProbe(key, result, health) {
      const seen = setRole(key, result, health);
      if (!seen) return;
      const { watch, prev, next, at } = seen;
      if (isTrigger(prev, next, { key, before: seen.before, after: seen.after })) {
        watch.triggerAt = at;
        hurryOthers(watch.service, key);
      }
      const pace = { healthy: health.healthy, failStreak: health.failStreak, lastReason: result.reason };
      const delay = nextProbeDelay(pace, isFast(watch.triggerAt, next.kind, at, policy), policy);
      if (delay !== undefined) deps.hurry(key, withJitter(delay, JITTER, random));
    },
    observe(key, result, health) {
      setRole(key, result, health);
    },
    roleOf: (key) => roles.get(key),
    answer(service, cluster) {
      const all = registry.serviceInstances(service);
      const records = cluster === undefined ? all : all.filter((r) => r.instance.cluster === cluster);
      if (records.length === 0) return undefined;
      return { answer: decidePrimary(membersOf(records, now())), records };
    },
    changed: (service, timeoutMs, signal) => waiters.wait(serviceKey(service), timeoutMs, signal),
    start() {
      unsubscribe = registry.subscribe(onEvent);
      waiters.open();
      // Roles are not restored after a restart (a failover may have happened meanwhile): instances
      // that reported one before are probed within intervalMs instead of the scheduler's spread
      // over checks.intervalMs, so the answer is `not-probed` for about a second, not five.
      for (const key of registry.keys()) {
        const probe = registry.peek(key)?.lastProbe;
        if (probe && roleFact(probe) !== undefined) deps.hurry(key, Math.floor(random() * policy.intervalMs));
      }
    },
    stop() {
      unsubscribe?.();
      unsubscribe = undefined;
      waiters.close();
    },
    stats() {
      const at = now();
      let fast = 0;
      for (const w of watches.values()) if (w.last && isFast(w.triggerAt, w.last.kind, at, policy)) fast++;
      return { services: watches.size, fast };
    },
  };
}
