import { describe, expect, it } from 'vitest';
import { nextRole, roleFact, type RoleState } from '../../src/primaries/role.js';

const primary: RoleState = { role: 'primary', since: 1000, fresh: true, ok: true };
const okPrimary = { status: 'ok', facts: { role: 'primary', readOnly: false } } as const;
const okReplica = { status: 'ok', facts: { role: 'replica', readOnly: true } } as const;
const timeout = { status: 'fail' } as const;
const refused = { status: 'fail-now' } as const;

describe('role tracking', () => {
  it('reads the role only from a probe that reported one', () => {
    expect(roleFact(okPrimary)).toBe('primary');
    expect(roleFact(okReplica)).toBe('replica');
    expect(roleFact(timeout)).toBeUndefined();
    expect(roleFact({ status: 'ok', facts: { role: 'leader' } })).toBeUndefined();
  });

  it('keeps the primary role through a timeout while the instance is still UP', () => {
    expect(nextRole(primary, timeout, true, 5000)).toEqual({ role: 'primary', since: 1000, fresh: false, ok: false });
  });

  it('forgets the role once the instance is DOWN by the fall rule', () => {
    expect(nextRole(primary, timeout, false, 5000)).toEqual({ role: 'unknown', since: 5000, fresh: false, ok: false });
    expect(nextRole(primary, refused, false, 6000)).toEqual({ role: 'unknown', since: 6000, fresh: false, ok: false });
  });

  it('demotes at once when read_only is seen ON', () => {
    expect(nextRole(primary, okReplica, true, 7000)).toEqual({ role: 'replica', since: 7000, fresh: true, ok: true });
  });

  it('promotes at once when read_only is seen OFF, even before the instance has risen', () => {
    const replica: RoleState = { role: 'replica', since: 10, fresh: true, ok: true };
    expect(nextRole(replica, okPrimary, false, 8000)).toEqual({ role: 'primary', since: 8000, fresh: true, ok: true });
  });

  it('keeps `since` while the role stays the same', () => {
    expect(nextRole(primary, okPrimary, true, 9000).since).toBe(1000);
  });

  it('starts unknown when the first probe read no role', () => {
    expect(nextRole(undefined, timeout, true, 50)).toEqual({ role: 'unknown', since: 50, fresh: false, ok: false });
  });

  it('marks a role read by a failed custom query as fresh but not ok', () => {
    expect(nextRole(undefined, { status: 'fail-now', facts: { role: 'primary' } }, false, 70)).toEqual({ role: 'primary', since: 70, fresh: true, ok: false });
  });
});
