import { describe, expect, it } from 'vitest';
import { createTimingWheel, type WheelEntry } from '../../src/health/timing-wheel.js';

const entry = (name: string): WheelEntry & { name: string } => ({ name, slot: -1 });

describe('timing wheel', () => {
  it('pops entries once their slot has ended, in due order, and not before', () => {
    const wheel = createTimingWheel<ReturnType<typeof entry>>(10, 1000);
    const a = entry('a');
    const b = entry('b');
    const c = entry('c');
    wheel.add(b, 1025);
    wheel.add(a, 1011);
    wheel.add(c, 1100);
    expect(wheel.size).toBe(3);
    expect(wheel.due(1019)).toEqual([]);
    expect(wheel.due(1020).map((e) => e.name)).toEqual(['a']); // 1011 rounds up to the slot ending at 1020
    expect(wheel.due(1099).map((e) => e.name)).toEqual(['b']);
    expect(wheel.due(1100).map((e) => e.name)).toEqual(['c']);
    expect(wheel.size).toBe(0);
  });

  it('runs a re-filed entry only at its new time, and a cancelled one never', () => {
    const wheel = createTimingWheel<ReturnType<typeof entry>>(10, 0);
    const a = entry('a');
    const b = entry('b');
    wheel.add(a, 50);
    wheel.add(a, 200);
    wheel.add(b, 50);
    wheel.cancel(b);
    expect(wheel.size).toBe(1);
    expect(wheel.due(100)).toEqual([]);
    expect(wheel.due(200).map((e) => e.name)).toEqual(['a']);
    expect(wheel.size).toBe(0);
  });

  it('files a due time in the past into the next slot, so nothing is lost after a stall', () => {
    const wheel = createTimingWheel<ReturnType<typeof entry>>(10, 0);
    expect(wheel.due(5000)).toEqual([]); // a long stall: every slot up to 5000 is spent
    const a = entry('a');
    wheel.add(a, 100);
    expect(wheel.due(5000)).toEqual([]);
    expect(wheel.due(5010).map((e) => e.name)).toEqual(['a']);
  });

  it('pops everything that came due during a stall in one call', () => {
    const wheel = createTimingWheel<ReturnType<typeof entry>>(10, 0);
    const list = Array.from({ length: 100 }, (_, i) => entry(String(i)));
    list.forEach((e, i) => wheel.add(e, i * 37));
    expect(wheel.due(10_000).length).toBe(100);
  });
});
