/**
 * The health state machine of one instance: rise / fall / fail-now hysteresis, operator overrides
 * and decisions made elsewhere (beats, peers). Pure: every function takes the state and `now` and
 * returns a new frozen state, plus exactly one `HealthChange` when `healthy` flipped.
 *
 * `reason`, `decidedBy` and `since` describe the last decision, not the last probe: a single failed
 * probe of a healthy instance leaves them alone (the runner's ProbeResult records the probe itself).
 */
import type { Verdict } from './contract.js';

export type DecidedBy = 'initial' | 'checker' | 'operator' | 'beat' | 'peer';

export interface Override {
  readonly healthy: boolean;
  /** ms epoch; the override no longer holds once `now >= until`. Absent: holds until cleared. */
  readonly until?: number;
  readonly by?: string;
  readonly reason?: string;
}

export interface HealthState {
  readonly healthy: boolean;
  /** ms epoch of the last change of `healthy`. */
  readonly since: number;
  /** Orders copies of this record between peers; bumped by every decision, never by streaks. */
  readonly version: number;
  readonly okStreak: number;
  readonly failStreak: number;
  readonly reason: string;
  readonly decidedBy: DecidedBy;
  readonly override?: Override;
}

export interface Thresholds {
  /** Consecutive oks that make an unhealthy instance healthy. */
  readonly rise: number;
  /** Consecutive fails that make a healthy instance unhealthy. */
  readonly fall: number;
}

/** Nacos flips after three consecutive results either way. */
export const DEFAULT_THRESHOLDS: Thresholds = Object.freeze({ rise: 3, fall: 3 });

export interface HealthChange {
  readonly from: boolean;
  readonly to: boolean;
  readonly reason: string;
  readonly decidedBy: DecidedBy;
  readonly version: number;
  readonly at: number;
}

export interface Transition {
  readonly state: HealthState;
  readonly change?: HealthChange;
}

/** Persistent instances start healthy (Nacos), so a restart does not take a fleet down. */
export function initialState(now: number, healthy = true): HealthState {
  return Object.freeze({ healthy, since: now, version: 1, okStreak: 0, failStreak: 0, reason: 'initial', decidedBy: 'initial' });
}

export function isOverrideActive(s: HealthState, now: number): boolean {
  return s.override !== undefined && !overrideExpired(s.override, now);
}

function overrideExpired(o: Override, now: number): boolean {
  return o.until !== undefined && o.until <= now;
}

type Fields = Partial<Omit<HealthState, 'override'>> & { override?: Override | undefined };

/**
 * Builds the next state; `healthy` differing from `s` bumps version and since and yields the change.
 * Reads `s` field by field (never spreads it): it may be a registry record read in place.
 */
function next(s: HealthState, f: Fields, reason: string, decidedBy: DecidedBy, now: number, bump: boolean): Transition {
  const override = 'override' in f ? f.override : s.override;
  const healthy = f.healthy ?? s.healthy;
  const flipped = healthy !== s.healthy;
  const version = flipped || bump ? s.version + 1 : s.version;
  const fields = {
    healthy,
    since: flipped ? now : s.since,
    version,
    okStreak: f.okStreak ?? s.okStreak,
    failStreak: f.failStreak ?? s.failStreak,
    reason: flipped || bump ? reason : (f.reason ?? s.reason),
    decidedBy: flipped || bump ? decidedBy : (f.decidedBy ?? s.decidedBy),
  };
  const state: HealthState = Object.freeze(override !== undefined ? { ...fields, override } : fields);
  if (!flipped) return { state };
  return { state, change: Object.freeze({ from: s.healthy, to: healthy, reason, decidedBy, version, at: now }) };
}

/**
 * Counts one probe verdict. Each ok resets the fail streak and vice versa; a healthy instance falls
 * after `fall` consecutive fails or at once on fail-now; an unhealthy one rises after `rise` oks.
 * An active override holds the health, so the probe is ignored altogether.
 */
export function applyProbe(s: HealthState, verdict: Verdict, reason: string, now: number, t: Thresholds): Transition {
  if (s.override !== undefined) {
    if (!overrideExpired(s.override, now)) return { state: s };
    // The scheduler should have expired it; do so here so the probe counts against a clean state.
    s = expireOverride(s, now).state;
  }
  if (verdict === 'ok') {
    // The steady case of every probe of a healthy instance: only the streak moves. One object, no
    // spreads (next() below costs several per probe); same fields as next() would give.
    if (s.healthy && s.failStreak === 0) {
      const state: HealthState = Object.freeze({ healthy: true, since: s.since, version: s.version, okStreak: s.okStreak + 1, failStreak: 0, reason: s.reason, decidedBy: s.decidedBy });
      return { state };
    }
    const okStreak = s.okStreak + 1;
    const rises = !s.healthy && okStreak >= t.rise;
    return next(s, { okStreak, failStreak: 0, ...(rises ? { healthy: true } : {}) }, reason, 'checker', now, false);
  }
  const failStreak = s.failStreak + 1;
  const falls = s.healthy && (verdict === 'fail-now' || failStreak >= t.fall);
  return next(s, { okStreak: 0, failStreak, ...(falls ? { healthy: false } : {}) }, reason, 'checker', now, false);
}

/**
 * Sets (or with `null` clears) the operator's override. Setting forces the health at once; clearing
 * keeps the current health until probes decide. Both bump the version even when `healthy` does not
 * change, because peers must learn that probes no longer (or again) decide. Streaks restart from 0
 * since results from before the override say nothing about the instance after it.
 * An override that has already expired is the same as none.
 */
export function setOverride(s: HealthState, override: Override | null, now: number): Transition {
  if (override === null || overrideExpired(override, now)) return clear(s, 'override-cleared', now);
  if (s.override !== undefined && sameOverride(s.override, override)) return { state: s };
  const o: Override = Object.freeze({ ...override });
  return next(s, { healthy: o.healthy, okStreak: 0, failStreak: 0, override: o }, 'override', 'operator', now, true);
}

/** Clears an override whose `until` has passed (`until <= now`); otherwise returns `s` unchanged. */
export function expireOverride(s: HealthState, now: number): Transition {
  if (s.override === undefined || !overrideExpired(s.override, now)) return { state: s };
  return clear(s, 'override-expired', now);
}

function clear(s: HealthState, reason: string, now: number): Transition {
  if (s.override === undefined) return { state: s };
  return next(s, { okStreak: 0, failStreak: 0, override: undefined }, reason, 'operator', now, true);
}

function sameOverride(a: Override, b: Override): boolean {
  return a.healthy === b.healthy && a.until === b.until && a.by === b.by && a.reason === b.reason;
}

/**
 * Applies a decision made outside the checker: a beat (an ephemeral instance is alive) or a peer
 * responsible for the instance. It flips at once; an active override still wins, as with probes.
 */
export function applyExternal(
  s: HealthState,
  healthy: boolean,
  reason: string,
  decidedBy: 'beat' | 'peer',
  now: number,
): Transition {
  if (s.override !== undefined) {
    if (!overrideExpired(s.override, now)) return { state: s };
    s = expireOverride(s, now).state;
  }
  if (healthy === s.healthy) return { state: s };
  return next(s, { healthy, okStreak: 0, failStreak: 0 }, reason, decidedBy, now, false);
}
