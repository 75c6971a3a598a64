import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../src/health/contract.js';
import {
  DEFAULT_THRESHOLDS,
  applyExternal,
  applyProbe,
  expireOverride,
  initialState,
  isOverrideActive,
  setOverride,
  type HealthChange,
  type HealthState,
} from '../../src/health/state-machine.js';

const T0 = 1_700_000_000_000;
const t = DEFAULT_THRESHOLDS;

/** Feeds verdicts one second apart and collects every change. */
function feed(s: HealthState, verdicts: readonly Verdict[], start = T0 + 1000): { state: HealthState; changes: HealthChange[] } {
  const changes: HealthChange[] = [];
  verdicts.forEach((v, i) => {
    const r = applyProbe(s, v, v === 'ok' ? 'connected' : 'timeout', start + i * 1000, t);
    s = r.state;
    if (r.change) changes.push(r.change);
  });
  return { state: s, changes };
}

describe('initialState', () => {
  it('starts healthy at version 1, decided by nobody yet', () => {
    expect(initialState(T0)).toEqual({
      healthy: true, since: T0, version: 1, okStreak: 0, failStreak: 0, reason: 'initial', decidedBy: 'initial',
    });
    expect(initialState(T0, false).healthy).toBe(false);
  });

  it('defaults to three results either way, as Nacos does', () => {
    expect(DEFAULT_THRESHOLDS).toEqual({ rise: 3, fall: 3 });
  });
});

describe('applyProbe', () => {
  it('marks a healthy instance down after `fall` consecutive fails, not before', () => {
    const two = feed(initialState(T0), ['fail', 'fail']);
    expect(two.state).toMatchObject({ healthy: true, failStreak: 2, okStreak: 0, version: 1 });
    expect(two.changes).toEqual([]);
    const three = feed(two.state, ['fail'], T0 + 3000);
    expect(three.state).toMatchObject({ healthy: false, failStreak: 3, version: 2, since: T0 + 3000, reason: 'timeout', decidedBy: 'checker' });
    expect(three.changes).toEqual([{ from: true, to: false, reason: 'timeout', decidedBy: 'checker', version: 2, at: T0 + 3000 }]);
  });

  it('marks the instance down at once on fail-now', () => {
    const r = applyProbe(initialState(T0), 'fail-now', 'refused', T0 + 500, t);
    expect(r.state).toMatchObject({ healthy: false, failStreak: 1, version: 2, since: T0 + 500, reason: 'refused' });
    expect(r.change).toEqual({ from: true, to: false, reason: 'refused', decidedBy: 'checker', version: 2, at: T0 + 500 });
  });

  it('resets the fail count on each success, so alternating results never flip', () => {
    const r = feed(initialState(T0), ['fail', 'fail', 'ok', 'fail', 'fail', 'ok', 'fail', 'fail']);
    expect(r.changes).toEqual([]);
    expect(r.state).toMatchObject({ healthy: true, failStreak: 2, okStreak: 0, version: 1 });
  });

  it('brings an unhealthy instance back after `rise` consecutive oks', () => {
    const down = initialState(T0, false);
    const r = feed(down, ['ok', 'ok', 'fail', 'ok', 'ok', 'ok']);
    expect(r.changes).toEqual([{ from: false, to: true, reason: 'connected', decidedBy: 'checker', version: 2, at: T0 + 6000 }]);
    expect(r.state).toMatchObject({ healthy: true, okStreak: 3, failStreak: 0, since: T0 + 6000 });
  });

  it('counts fail-now like a fail while already down and emits nothing', () => {
    const r = feed(initialState(T0, false), ['fail-now', 'fail']);
    expect(r.changes).toEqual([]);
    expect(r.state).toMatchObject({ healthy: false, failStreak: 2, version: 1, reason: 'initial' });
  });

  it('keeps the last decision when streaks alone change', () => {
    const r = feed(initialState(T0), ['ok', 'ok', 'fail']);
    expect(r.state).toMatchObject({ version: 1, since: T0, reason: 'initial', decidedBy: 'initial', okStreak: 0, failStreak: 1 });
  });

  it('honours custom thresholds, including rise 1', () => {
    const one = applyProbe(initialState(T0, false), 'ok', 'connected', T0 + 1, { rise: 1, fall: 5 });
    expect(one.state.healthy).toBe(true);
    let s = initialState(T0);
    for (let i = 0; i < 4; i++) s = applyProbe(s, 'fail', 'timeout', T0 + i, { rise: 1, fall: 5 }).state;
    expect(s.healthy).toBe(true);
    expect(applyProbe(s, 'fail', 'timeout', T0 + 5, { rise: 1, fall: 5 }).state.healthy).toBe(false);
  });

  it('returns new frozen states and leaves the input alone', () => {
    const s = initialState(T0);
    const r = applyProbe(s, 'fail', 'timeout', T0 + 1, t);
    expect(r.state).not.toBe(s);
    expect(s.failStreak).toBe(0);
    expect(Object.isFrozen(r.state)).toBe(true);
  });

  it('ignores probes while an override holds', () => {
    const held = setOverride(initialState(T0), { healthy: true, until: T0 + 10_000 }, T0).state;
    const r = applyProbe(held, 'fail-now', 'refused', T0 + 9_999, t);
    expect(r.state).toBe(held);
    expect(r.change).toBeUndefined();
  });

  it('expires a lapsed override itself before counting the probe', () => {
    const held = setOverride(initialState(T0), { healthy: true, until: T0 + 10_000 }, T0).state;
    const r = applyProbe(held, 'fail-now', 'refused', T0 + 10_000, t);
    expect(r.state.override).toBeUndefined();
    expect(r.state.healthy).toBe(false);
    expect(r.change).toMatchObject({ from: true, to: false, reason: 'refused', version: held.version + 2 });
  });
});

describe('setOverride', () => {
  it('forces the health at once and emits one change', () => {
    const s = feed(initialState(T0), ['fail', 'fail']).state;
    const r = setOverride(s, { healthy: false, by: 'ops', reason: 'deploy' }, T0 + 5000);
    expect(r.change).toEqual({ from: true, to: false, reason: 'override', decidedBy: 'operator', version: 2, at: T0 + 5000 });
    expect(r.state).toMatchObject({
      healthy: false, since: T0 + 5000, version: 2, okStreak: 0, failStreak: 0, reason: 'override', decidedBy: 'operator',
      override: { healthy: false, by: 'ops', reason: 'deploy' },
    });
    expect(isOverrideActive(r.state, T0 + 1e9)).toBe(true);
  });

  it('bumps the version without a change when the health already matches', () => {
    const s = initialState(T0);
    const r = setOverride(s, { healthy: true }, T0 + 1);
    expect(r.change).toBeUndefined();
    expect(r.state).toMatchObject({ healthy: true, since: T0, version: 2, decidedBy: 'operator', override: { healthy: true } });
  });

  it('is idempotent for the same override', () => {
    const s = setOverride(initialState(T0), { healthy: false, until: T0 + 60_000 }, T0).state;
    expect(setOverride(s, { healthy: false, until: T0 + 60_000 }, T0 + 1).state).toBe(s);
  });

  it('replaces an override with another', () => {
    const s = setOverride(initialState(T0), { healthy: false }, T0).state;
    const r = setOverride(s, { healthy: true }, T0 + 1);
    expect(r.change).toMatchObject({ from: false, to: true, reason: 'override', version: 3 });
    expect(r.state.override).toEqual({ healthy: true });
  });

  it('keeps the current health when cleared, until probes decide', () => {
    const s = setOverride(initialState(T0), { healthy: false }, T0).state;
    const cleared = setOverride(s, null, T0 + 1000);
    expect(cleared.change).toBeUndefined();
    expect(cleared.state).toMatchObject({ healthy: false, since: T0, version: 3, reason: 'override-cleared', decidedBy: 'operator' });
    expect('override' in cleared.state).toBe(false);
    const back = feed(cleared.state, ['ok', 'ok', 'ok'], T0 + 2000);
    expect(back.changes).toEqual([{ from: false, to: true, reason: 'connected', decidedBy: 'checker', version: 4, at: T0 + 4000 }]);
  });

  it('does nothing when clearing without an override', () => {
    const s = initialState(T0);
    expect(setOverride(s, null, T0 + 1).state).toBe(s);
  });

  it('treats an override that has already expired as none', () => {
    const s = initialState(T0);
    expect(setOverride(s, { healthy: false, until: T0 }, T0).state).toBe(s);
  });
});

describe('expireOverride', () => {
  const held = setOverride(initialState(T0), { healthy: false, until: T0 + 60_000 }, T0).state;

  it('keeps the override before its end', () => {
    expect(expireOverride(held, T0 + 59_999).state).toBe(held);
    expect(isOverrideActive(held, T0 + 59_999)).toBe(true);
  });

  it('clears it when until == now and keeps the health', () => {
    expect(isOverrideActive(held, T0 + 60_000)).toBe(false);
    const r = expireOverride(held, T0 + 60_000);
    expect(r.change).toBeUndefined();
    expect(r.state).toMatchObject({ healthy: false, version: held.version + 1, reason: 'override-expired', decidedBy: 'operator' });
    expect(r.state.override).toBeUndefined();
  });

  it('never expires an override without an end', () => {
    const forever = setOverride(initialState(T0), { healthy: false }, T0).state;
    expect(expireOverride(forever, Number.MAX_SAFE_INTEGER).state).toBe(forever);
  });
});

describe('applyExternal', () => {
  it('makes an unhealthy instance healthy at once on a beat', () => {
    const s = feed(initialState(T0), ['fail', 'fail', 'fail']).state;
    const r = applyExternal(s, true, 'beat', 'beat', T0 + 9000);
    expect(r.change).toEqual({ from: false, to: true, reason: 'beat', decidedBy: 'beat', version: 3, at: T0 + 9000 });
    expect(r.state).toMatchObject({ healthy: true, okStreak: 0, failStreak: 0, decidedBy: 'beat' });
  });

  it('takes a peer decision and records who made it', () => {
    const r = applyExternal(initialState(T0), false, 'refused', 'peer', T0 + 1);
    expect(r.change).toMatchObject({ from: true, to: false, decidedBy: 'peer', reason: 'refused' });
  });

  it('changes nothing when the health already agrees', () => {
    const s = initialState(T0);
    expect(applyExternal(s, true, 'beat', 'beat', T0 + 1).state).toBe(s);
  });

  it('leaves an active override in charge', () => {
    const held = setOverride(initialState(T0), { healthy: false }, T0).state;
    expect(applyExternal(held, true, 'beat', 'beat', T0 + 1).state).toBe(held);
  });
});
