import { describe, expect, it } from 'vitest';
import { decidePrimary } from '../../src/primaries/decide.js';
import { isFast, isTrigger, nextProbeDelay, type PacePolicy } from '../../src/primaries/pace.js';
import type { RoleState } from '../../src/primaries/role.js';

const p: PacePolicy = { intervalMs: 1000, fastIntervalMs: 250, settleMs: 3000, holdMs: 60_000 };
const role = (r: RoleState['role'], fresh = true, ok = true): RoleState => ({ role: r, since: 1, fresh, ok });
const one = decidePrimary([{ key: 'a', healthy: true, overridden: false, role: role('primary') }, { key: 'b', healthy: true, overridden: false, role: role('replica') }]);
const none = decidePrimary([{ key: 'a', healthy: false, overridden: false, role: role('unknown', false, false) }, { key: 'b', healthy: true, overridden: false, role: role('replica') }]);

describe('the pace of role probes', () => {
  it('is steady until something triggers fast confirmation', () => {
    expect(isFast(undefined, 'one', 10_000, p)).toBe(false);
  });

  it('stays fast for settleMs after a trigger while there is one primary', () => {
    expect(isFast(10_000, 'one', 12_999, p)).toBe(true);
    expect(isFast(10_000, 'one', 13_000, p)).toBe(false);
  });

  it('stays fast up to holdMs while there is no single primary', () => {
    expect(isFast(10_000, 'none', 69_999, p)).toBe(true);
    expect(isFast(10_000, 'split', 69_999, p)).toBe(true);
    expect(isFast(10_000, 'none', 70_000, p)).toBe(false);
  });

  it('triggers when the primary fails a probe, a role changes or the answer changes', () => {
    expect(isTrigger(one, one, { key: 'a', before: role('primary'), after: role('primary', false, false) })).toBe(true);
    expect(isTrigger(one, one, { key: 'b', before: role('replica'), after: role('unknown', false, false) })).toBe(true);
    expect(isTrigger(one, none, { key: 'a', before: role('primary'), after: role('unknown', false, false) })).toBe(true);
  });

  it('does not trigger on a replica timing out or on confirmations', () => {
    expect(isTrigger(one, one, { key: 'b', before: role('replica'), after: role('replica', false, false) })).toBe(false);
    expect(isTrigger(one, one, { key: 'a', before: role('primary'), after: role('primary') })).toBe(false);
    expect(isTrigger(undefined, one, { key: 'a', before: undefined, after: role('primary') })).toBe(false);
  });

  it('probes at the steady or fast interval, but leaves an UP instance that timed out to the scheduler', () => {
    expect(nextProbeDelay({ healthy: true, failStreak: 0, lastReason: 'primary' }, false, p)).toBe(1000);
    expect(nextProbeDelay({ healthy: true, failStreak: 0, lastReason: 'replica' }, true, p)).toBe(250);
    expect(nextProbeDelay({ healthy: false, failStreak: 4, lastReason: 'refused' }, true, p)).toBe(250);
    expect(nextProbeDelay({ healthy: true, failStreak: 1, lastReason: 'timeout' }, true, p)).toBeUndefined();
    expect(nextProbeDelay({ healthy: true, failStreak: 2, lastReason: 'timeout' }, false, p)).toBeUndefined();
  });

  it('hurries an UP instance whose connection was reset: that server went away, it is not slow', () => {
    expect(nextProbeDelay({ healthy: true, failStreak: 1, lastReason: 'reset' }, true, p)).toBe(250);
    expect(nextProbeDelay({ healthy: true, failStreak: 1, lastReason: 'reset' }, false, p)).toBe(1000);
  });
});
