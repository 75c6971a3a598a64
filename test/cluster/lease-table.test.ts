import { describe, expect, it } from 'vitest';
import { createLeaseTable } from '../../src/cluster/lease-table.js';

describe('createLeaseTable', () => {
  it('holds a lease until ttl - margin after the renewal was sent, then no longer', () => {
    const t = createLeaseTable({ ttlMs: 3000, marginMs: 500 });
    t.confirm([{ shard: 4, epoch: 2 }], 10_000);
    expect(t.epochFor(4, 10_000)).toBe(2);
    expect(t.owns(4, 12_499)).toBe(true);
    expect(t.owns(4, 12_500)).toBe(false);
    expect(t.epochFor(4, 12_500)).toBeUndefined();
  });

  it('extends the deadline on renewal and takes the new epoch on re-acquisition', () => {
    const t = createLeaseTable({ ttlMs: 3000, marginMs: 500 });
    t.confirm([{ shard: 1, epoch: 2 }], 0);
    t.confirm([{ shard: 1, epoch: 3 }], 2000);
    expect(t.epochFor(1, 4000)).toBe(3);
    expect(t.owns(1, 4500)).toBe(false);
  });

  it('forgets dropped shards at once and lists what it holds in order', () => {
    const t = createLeaseTable({ ttlMs: 3000, marginMs: 500 });
    t.confirm([{ shard: 9, epoch: 1 }, { shard: 2, epoch: 1 }, { shard: 5, epoch: 1 }], 0);
    t.drop([5]);
    expect(t.held(100)).toEqual([2, 9]);
    expect(t.owns(5, 100)).toBe(false);
    expect(t.held(2500)).toEqual([]);
  });

  it('owns nothing it never confirmed', () => {
    const t = createLeaseTable({ ttlMs: 3000, marginMs: 500 });
    expect(t.owns(0, 0)).toBe(false);
  });

  it('refuses a margin that leaves no lease', () => {
    expect(() => createLeaseTable({ ttlMs: 500, marginMs: 500 })).toThrow(RangeError);
  });
});
