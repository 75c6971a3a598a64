/**
 * The runner's deadline queues (src/health/deadlines.ts) on a fake clock: one timer however many
 * probes are in flight, each entry expired exactly at its own deadline, answered ones never.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDeadlines, type DeadlineEntry } from '../../src/health/deadlines.js';

interface Entry extends DeadlineEntry {
  readonly name: string;
  readonly budget: number;
  ticket: number;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

function rig() {
  const expired: Array<[string, number]> = [];
  const q = createDeadlines<Entry>((e) => {
    expired.push([e.name, Date.now()]);
    q.close(e.budget, e.ticket);
  }, Date.now);
  const add = (name: string, budgetMs: number): Entry => {
    const e: Entry = { name, budget: budgetMs, deadline: Date.now() + budgetMs, ticket: -1 };
    e.ticket = q.add(e, budgetMs);
    return e;
  };
  const answer = (e: Entry): void => q.close(e.budget, e.ticket);
  return { q, expired, add, answer };
}

describe('deadline queues', () => {
  it('keeps one timer for a thousand entries in flight and expires each at its own deadline', async () => {
    const { q, expired, add } = rig();
    for (let i = 0; i < 1000; i++) {
      add(`a${i}`, 100);
      if (i % 100 === 99) await vi.advanceTimersByTimeAsync(1);
    }
    expect(q.size).toBe(1000);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(100 - 10 - 1); // the first hundred were filed at 0 ms
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(expired.map(([, at]) => at)).toEqual(Array(100).fill(100));
    await vi.advanceTimersByTimeAsync(9);
    expect(expired).toHaveLength(1000);
    expect(expired.every(([name, at]) => at === 100 + Math.floor(Number(name.slice(1)) / 100))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('expires entries of different budgets in deadline order, re-arming for a shorter budget filed later', async () => {
    const { expired, add } = rig();
    add('long', 100);
    await vi.advanceTimersByTimeAsync(10);
    add('short', 30); // due at 40, before "long" at 100
    await vi.advanceTimersByTimeAsync(10);
    add('long2', 100); // due at 120
    await vi.advanceTimersByTimeAsync(200);
    expect(expired).toEqual([
      ['short', 40],
      ['long', 100],
      ['long2', 120],
    ]);
  });

  it('never expires an answered entry, and holds no timer once nothing is open', async () => {
    const { q, expired, add, answer } = rig();
    const a = add('a', 50);
    add('b', 50);
    answer(a);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(60);
    expect(expired).toEqual([['b', 50]]);
    const c = add('c', 50);
    answer(c);
    expect(q.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(expired).toEqual([['b', 50]]);
  });

  it('keeps expiring on time through thousands of entries answered out of order', async () => {
    const { q, expired, add, answer } = rig();
    const kept: string[] = [];
    for (let round = 0; round < 5; round++) {
      const batch = Array.from({ length: 1000 }, (_, i) => add(`r${round}-${i}`, 100));
      // Answer all but every 250th, newest first (the queue's holes come from both ends).
      for (const e of batch.reverse()) if (!e.name.endsWith('-0') && !e.name.endsWith('-500')) answer(e);
      kept.push(`r${round}-0`, `r${round}-500`);
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(q.size).toBe(10);
    await vi.advanceTimersByTimeAsync(200);
    expect(expired.map(([name]) => name).sort()).toEqual(kept.sort());
    expect(expired.every(([name, at]) => at === 100 + 10 * Number(name[1]))).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lists the open entries (for stopping them all)', () => {
    const { q, add, answer } = rig();
    const a = add('a', 50);
    add('b', 70);
    add('c', 50);
    answer(a);
    expect(q.open().map((e) => e.name).sort()).toEqual(['b', 'c']);
  });
});
