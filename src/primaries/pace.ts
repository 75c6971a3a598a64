/**
 * How often the instances of a service with roles are probed. Pure: functions of the service's
 * answer, its last trigger and `now`, tested with literal times; the tracker owns the wiring and
 * asks the scheduler for the delays these return.
 *
 * Steady: every instance that reports a role is probed every `intervalMs` (ProxySQL's read_only
 * monitor uses 1.5 s), so a promotion is seen within about one interval even when nothing else
 * happened. Fast confirmation: when the primary's probe fails, a role changes or the answer
 * changes, every other instance of the service is probed every `fastIntervalMs` for `settleMs`,
 * and for up to `holdMs` while there is no single primary, so a failover is seen in a few hundred
 * milliseconds. An instance that is UP but whose last probe timed out (a suspect) is left to the
 * scheduler's own pace: probing it faster would count timeouts faster and demote a primary that
 * is only paused.
 */
import type { Answer } from './decide.js';
import type { RoleState } from './role.js';

export interface PacePolicy {
  readonly intervalMs: number;
  readonly fastIntervalMs: number;
  readonly settleMs: number;
  readonly holdMs: number;
}

/** True while the service is in fast confirmation. */
export function isFast(lastTriggerAt: number | undefined, kind: Answer['kind'], now: number, p: PacePolicy): boolean {
  if (lastTriggerAt === undefined) return false;
  const since = now - lastTriggerAt;
  return since < p.settleMs || (kind !== 'one' && since < p.holdMs);
}

export interface ProbeFacts {
  readonly key: string;
  readonly before: RoleState | undefined;
  readonly after: RoleState;
}

/**
 * Whether one probe is a reason to confirm the whole service fast: the answer changed, the
 * instance's role changed, or the instance named primary failed to confirm it is writable.
 */
export function isTrigger(previous: Answer | undefined, next: Answer, probe: ProbeFacts): boolean {
  if (previous !== undefined && previous.version !== next.version) return true;
  if (probe.before !== undefined && probe.before.role !== probe.after.role) return true;
  if (previous?.kind === 'one' && previous.primary === probe.key) {
    return !(probe.after.fresh && probe.after.ok && probe.after.role === 'primary');
  }
  return false;
}

export interface InstancePace {
  readonly healthy: boolean;
  readonly failStreak: number;
  /** The reason of its last probe (`timeout`, `reset`, `primary`, …), if any. */
  readonly lastReason: string | undefined;
}

/**
 * The delay before the next probe of one instance; undefined leaves the scheduler's own. A suspect
 * (UP, its last probe timed out) is left alone; one whose connection was reset is probed like the
 * others, since a reset comes from a server that went away, not from one that is only slow.
 */
export function nextProbeDelay(inst: InstancePace, fast: boolean, p: PacePolicy): number | undefined {
  if (inst.healthy && inst.failStreak > 0 && inst.lastReason === 'timeout') return undefined;
  return fast ? p.fastIntervalMs : p.intervalMs;
}
