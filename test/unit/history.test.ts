import { describe, expect, it } from 'vitest';
import type { ProbeResult } from '../../src/health/contract.js';
import { createHistory, percentile } from '../../src/observe/history.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 1);
const probe = (startedAt: number, status: ProbeResult['status'] = 'ok', latencyMs = 1): ProbeResult => ({ type: 'tcp', status, reason: status === 'ok' ? 'connected' : 'refused', latencyMs, startedAt });

describe('probe history', () => {
  it('keeps the last results in order and forgets the oldest', () => {
    const h = createHistory({ results: 3, days: 30 });
    for (let i = 0; i < 5; i++) h.record('k', probe(T0 + i, i === 4 ? 'fail-now' : 'ok', i));
    const s = h.summary('k', T0 + 10)!;
    expect(s.results.map((r) => [r.startedAt - T0, r.status])).toEqual([[2, 'ok'], [3, 'ok'], [4, 'fail-now']]);
    expect(h.summary('k', T0, 2)!.results.map((r) => r.startedAt - T0)).toEqual([3, 4]);
  });

  it('gives uptime over 24 h, 7 d and 30 d from hourly aggregates', () => {
    const h = createHistory({ results: 10, days: 30 });
    const now = T0 + 40 * 24 * HOUR;
    // 35 days ago (outside every window): all failures.
    for (let i = 0; i < 4; i++) h.record('k', probe(now - 35 * 24 * HOUR + i, 'fail'));
    // 10 days ago: 1 ok of 2. 3 days ago: 3 ok of 4. 1 hour ago: 2 ok of 2.
    h.record('k', probe(now - 10 * 24 * HOUR, 'ok'));
    h.record('k', probe(now - 10 * 24 * HOUR + 1, 'fail'));
    for (const s of ['ok', 'ok', 'ok', 'fail'] as const) h.record('k', probe(now - 3 * 24 * HOUR, s));
    h.record('k', probe(now - HOUR, 'ok'));
    h.record('k', probe(now - HOUR + 1, 'ok'));
    expect(h.summary('k', now)!.uptime).toEqual({ '24h': 1, '7d': 5 / 6, '30d': 6 / 8 });
  });

  it('reuses the bucket of a day that left the window instead of growing', () => {
    const h = createHistory({ results: 10, days: 30 });
    // 40 days of one probe a day: the first 10 days failed, the last 30 were fine.
    for (let d = 0; d < 40; d++) h.record('k', probe(T0 + d * 24 * HOUR, d < 10 ? 'fail' : 'ok'));
    const now = T0 + 39 * 24 * HOUR + HOUR;
    expect(h.summary('k', now)!.uptime).toEqual({ '24h': 1, '7d': 1, '30d': 1 });
    const rows = h.takeDirty();
    expect(rows.filter((r) => r.kind === 'd')).toHaveLength(30);
    // One probe a day always lands in the same hourly slot: only the latest hour is left.
    expect(rows.filter((r) => r.kind === 'h').map((r) => r.index)).toEqual([Math.floor((T0 + 39 * 24 * HOUR) / HOUR)]);
  });

  it('restores persisted buckets inside their window only', () => {
    const h = createHistory({ results: 10, days: 30 });
    const now = T0 + 40 * 24 * HOUR;
    const day = Math.floor(now / (24 * HOUR));
    h.restore([
      { key: 'k', kind: 'd', index: day - 31, probes: 10, ok: 0 },
      { key: 'k', kind: 'd', index: day - 2, probes: 4, ok: 3 },
      { key: 'k', kind: 'h', index: Math.floor(now / HOUR) - 1, probes: 2, ok: 1 },
    ], now);
    expect(h.summary('k', now)!.uptime).toEqual({ '24h': 0.5, '7d': 0.75, '30d': 0.75 });
  });

  it('says null when no probe fell in a window, and forgets a removed instance', () => {
    const h = createHistory({ results: 10, days: 30 });
    h.record('k', probe(T0));
    expect(h.summary('k', T0 + 2 * 24 * HOUR)!.uptime['24h']).toBeNull();
    h.forget('k');
    expect(h.summary('k', T0)).toBeUndefined();
  });

  it('computes nearest-rank latency percentiles', () => {
    const h = createHistory({ results: 100, days: 1 });
    for (let i = 1; i <= 100; i++) h.record('k', probe(T0 + i, 'ok', i));
    expect(h.summary('k', T0)!.latencyMs).toEqual({ p50: 50, p95: 95, p99: 99 });
    expect(percentile([7], 0.99)).toBe(7);
  });
});

it('pages the ring from the newest result back by sequence number, and refuses a position it never had', () => {
  const h = createHistory({ results: 5, days: 30 });
  for (let i = 1; i <= 10; i++) h.record('k', { type: 'tcp', status: 'ok', reason: 'connected', latencyMs: i, startedAt: T0 + i });
  const page = (last: number, before?: number) => {
    const s = h.summary('k', T0, last, before)!;
    return [s.results.map((r) => r.startedAt - T0), s.older];
  };
  expect(page(2)).toEqual([[9, 10], 9]);
  expect(page(2, 9)).toEqual([[7, 8], 7]);
  // Only 6…10 are held: the page stops at the oldest and says there is nothing older.
  expect(page(2, 7)).toEqual([[6], null]);
  expect(page(5)).toEqual([[6, 7, 8, 9, 10], null]);
  expect(page(2, 11)).toEqual([[9, 10], 9]);
  // A cursor whose results have left the ring: an empty page, not someone else's results.
  expect(page(2, 3)).toEqual([[], null]);
  expect(() => h.summary('k', T0, 2, 12)).toThrow(RangeError);
});

it('keeps hourly and daily counts in rings without stored indexes: a gap empties what it passes, an older probe leaves newer counts alone, and what is taken restores the same', () => {
  const h = createHistory({ results: 4, days: 30 });
  const H0 = Math.floor(T0 / HOUR);
  h.record('k', probe(T0, 'fail'));
  h.record('k', probe(T0 + 25 * HOUR, 'ok')); // a day later: yesterday's hour bucket was passed and emptied
  h.record('k', probe(T0 + 25 * HOUR + 1, 'ok'));
  h.record('k', probe(T0 - 30 * HOUR, 'fail')); // older than every hourly bucket: counted for its day only
  const now = T0 + 25 * HOUR + 2;
  const s = h.summary('k', now)!;
  expect(s.uptime['24h']).toBe(1);
  expect(s.uptime['7d']).toBe(2 / 4);
  const rows = h.takeDirty(now);
  expect(rows.filter((r) => r.kind === 'h')).toEqual([{ key: 'k', kind: 'h', index: H0 + 25, probes: 2, ok: 2 }]);
  expect(rows.filter((r) => r.kind === 'd').reduce((n, r) => n + r.probes, 0)).toBe(4);
  const again = createHistory({ results: 4, days: 30 });
  again.restore(rows, now);
  expect(again.summary('k', now)!.uptime).toEqual(s.uptime);
  // Counts beyond what 16 bits would hold stay exact.
  again.restore([{ key: 'big', kind: 'd', index: Math.floor(now / (24 * HOUR)), probes: 100_000, ok: 99_999 }], now);
  expect(again.summary('big', now)!.uptime['30d']).toBe(99_999 / 100_000);
});

describe('probe history, persisted in slices', () => {
  const record = (h: ReturnType<typeof createHistory>, keys: readonly string[], at: number): void => {
    for (const k of keys) h.record(k, probe(at, k.endsWith('3') ? 'fail' : 'ok'));
  };
  const sorted = (rows: readonly object[]) => rows.map((r) => JSON.stringify(r)).sort();

  it('takes the same rows in slices as in one take, and ends its pass after the last instance', () => {
    const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
    const [whole, sliced] = [createHistory({ results: 4, days: 30 }), createHistory({ results: 4, days: 30 })];
    record(whole, keys, T0);
    record(sliced, keys, T0);
    const all = whole.takeDirty(T0 + 1);
    expect(all).toHaveLength(50);
    const parts: object[][] = [];
    do parts.push(sliced.takeDirty(T0 + 1, 4));
    while (sliced.passOpen);
    expect(parts).toHaveLength(7); // 25 instances, 4 a slice
    expect(parts.slice(0, 6).every((p) => p.length === 8)).toBe(true);
    expect(sorted(parts.flat())).toEqual(sorted(all));
    expect(sliced.takeDirty(T0 + 2, 4)).toEqual([]); // nothing changed since: a new pass finds nothing
    expect(sliced.passOpen).toBe(true);
  });

  it('goes in key order, takes an instance changed behind the pass or added during it in the next pass, and skips one forgotten', () => {
    const h = createHistory({ results: 4, days: 30 });
    record(h, ['c', 'a', 'b'], T0);
    expect(h.takeDirty(T0 + 1, 1).map((r) => r.key)).toEqual(['a', 'a']);
    record(h, ['a'], T0 + 2); // behind the pass
    h.forget('b'); // ahead of it
    record(h, ['d'], T0 + 2); // added during it
    const rest: { key: string }[] = [];
    while (h.passOpen) rest.push(...h.takeDirty(T0 + 3, 1));
    expect(rest.map((r) => r.key)).toEqual(['c', 'c']);
    const next = h.takeDirty(T0 + 4, 10);
    expect(next.map((r) => [r.key, r.kind, r.probes])).toEqual([['a', 'h', 2], ['a', 'd', 2], ['d', 'h', 1], ['d', 'd', 1]]);
    expect(h.passOpen).toBe(false);
  });
});
