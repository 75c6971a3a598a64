import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../src/health/contract.js';
import { initialState, type HealthState } from '../../src/health/state-machine.js';
import { createRecordTable } from '../../src/registry/record-table.js';

const T = Date.UTC(2026, 11, 3, 14, 0, 0, 123); // ms beyond 2^32

const health = (over: Partial<HealthState> = {}): HealthState => ({ ...initialState(T), ...over });
const probe = (over: Partial<ProbeResult> = {}): ProbeResult => ({ status: 'ok', reason: 'connected', type: 'tcp', latencyMs: 0.123, startedAt: T, ...over });

describe('packed record table', () => {
  it('gives back every health field as written, across its range', () => {
    const t = createRecordTable(2);
    const cases: HealthState[] = [
      health(),
      health({ healthy: false, since: 0, version: 0, okStreak: 0, failStreak: 0, reason: '', decidedBy: 'checker' }),
      health({ since: 2 ** 32 + 1, version: 2 ** 32 + 7, okStreak: 2 ** 40, failStreak: 2 ** 31 + 3, reason: 'refused', decidedBy: 'peer' }),
      health({ since: Number.MAX_SAFE_INTEGER, version: Number.MAX_SAFE_INTEGER, okStreak: 1, failStreak: 2 ** 53 - 1, decidedBy: 'beat' }),
      health({ healthy: false, reason: 'override', decidedBy: 'operator', override: { healthy: false, until: T + 60_000, by: 'ops', reason: 'deploy' } }),
      health({ override: { healthy: true } }),
    ];
    const slots = cases.map((h) => {
      const slot = t.alloc();
      t.setHealth(slot, h);
      return slot;
    });
    cases.forEach((h, i) => {
      const back = t.health(slots[i]!);
      expect(back).toStrictEqual(h);
      expect(Object.keys(back)).toEqual(Object.keys(h)); // same field order: the same JSON
      expect(Object.isFrozen(back)).toBe(true);
    });
    // The override object itself is kept: an identity check (override changed?) still works.
    expect(t.health(slots[4]!).override).toBe(cases[4]!.override);
    // Writing another state over a slot leaves nothing of the old one behind.
    t.setHealth(slots[4]!, cases[0]!);
    expect(t.health(slots[4]!)).toStrictEqual(cases[0]);
    expect('override' in t.health(slots[4]!)).toBe(false);
  });

  it('gives back every last-probe field as written; absent stays absent', () => {
    const t = createRecordTable(1);
    const slot = t.alloc();
    t.setHealth(slot, health());
    expect(t.lastProbe(slot)).toBeUndefined();
    for (const p of [
      probe(),
      probe({ status: 'fail', reason: 'timeout', type: 'http', latencyMs: 800, startedAt: 0 }),
      probe({ status: 'fail-now', reason: 'refused', latencyMs: 2 ** 34 + 0.001, startedAt: 2 ** 52 }),
    ]) {
      t.setLastProbe(slot, p);
      expect(t.lastProbe(slot)).toStrictEqual(p);
      expect(Object.keys(t.lastProbe(slot)!)).toEqual(Object.keys(p));
      // The health bit shares a byte with the probe's status: neither disturbs the other.
      expect(t.health(slot).healthy).toBe(true);
    }
    t.setHealth(slot, health({ healthy: false }));
    expect(t.lastProbe(slot)!.status).toBe('fail-now');
    t.setLastProbe(slot, undefined);
    expect(t.lastProbe(slot)).toBeUndefined();
    expect(t.health(slot).healthy).toBe(false);
  });

  it('keeps a result with detail, facts or any other field as the very object given', () => {
    const t = createRecordTable(1);
    const slot = t.alloc();
    t.setHealth(slot, health());
    const rich = [
      probe({ detail: 'HTTP/1.1 200 OK', facts: { httpStatus: 200 } }),
      probe({ facts: { role: 'primary' } }),
      { ...probe(), extra: 1 } as ProbeResult,
    ];
    for (const p of rich) {
      t.setLastProbe(slot, p);
      expect(t.lastProbe(slot)).toBe(p);
    }
    // A plain result afterwards is packed again, not shadowed by the kept one.
    t.setLastProbe(slot, probe({ latencyMs: 5 }));
    expect(t.lastProbe(slot)).toStrictEqual(probe({ latencyMs: 5 }));
  });

  it('reuses freed slots without leaking their override, kept result or spilled strings', () => {
    const t = createRecordTable(1);
    const a = t.alloc();
    t.setHealth(a, health({ override: { healthy: false } }));
    t.setLastProbe(a, probe({ detail: 'x' }));
    t.free(a);
    expect(t.size).toBe(0);
    const b = t.alloc();
    expect(b).toBe(a);
    t.setHealth(b, health());
    expect(t.health(b)).toStrictEqual(health());
    expect(t.lastProbe(b)).toBeUndefined();
  });

  it('grows past its first capacity and keeps what every slot held', () => {
    const t = createRecordTable(1);
    const n = 1000;
    for (let i = 0; i < n; i++) {
      const s = t.alloc();
      t.setHealth(s, health({ version: i, okStreak: i * 3, reason: `r${i % 7}` }));
      t.setLastProbe(s, probe({ latencyMs: i / 1000, startedAt: T + i, type: i % 2 ? 'tcp' : 'http' }));
    }
    expect(t.size).toBe(n);
    for (let i = 0; i < n; i++) {
      expect(t.health(i)).toStrictEqual(health({ version: i, okStreak: i * 3, reason: `r${i % 7}` }));
      expect(t.lastProbe(i)).toStrictEqual(probe({ latencyMs: i / 1000, startedAt: T + i, type: i % 2 ? 'tcp' : 'http' }));
    }
  });

  it('holds strings per slot once the shared table of 65,535 is full', () => {
    const t = createRecordTable(4);
    const slot = t.alloc();
    for (let i = 0; i < 70_000; i++) t.setHealth(slot, health({ reason: `reason-${i}` }));
    const other = t.alloc();
    t.setHealth(other, health({ reason: 'one more' }));
    t.setLastProbe(other, probe({ reason: 'and another', type: 'plugin-x' }));
    expect(t.health(slot).reason).toBe('reason-69999');
    expect(t.health(other).reason).toBe('one more');
    expect(t.lastProbe(other)).toStrictEqual(probe({ reason: 'and another', type: 'plugin-x' }));
    // A code already in the table still goes by its id.
    t.setHealth(other, health({ reason: 'reason-5' }));
    expect(t.health(other).reason).toBe('reason-5');
  });
});
