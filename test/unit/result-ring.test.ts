import { describe, expect, it } from 'vitest';
import { createResultRing, type RingEntry } from '../../src/observe/result-ring.js';

const T = Date.UTC(2026, 11, 3, 15, 30); // ms beyond 2^32
const DAY = 86_400_000;

function ringOf(perSlot: number) {
  const reasons: string[] = [];
  const ids = new Map<string, number>();
  const id = (r: string) => {
    let i = ids.get(r);
    if (i === undefined) ids.set(r, (i = reasons.push(r) - 1));
    return i;
  };
  return createResultRing(perSlot, id, (i) => reasons[i] ?? 'other');
}

const entry = (over: Partial<RingEntry> = {}): RingEntry => ({ status: 'ok', reason: 'connected', latencyUs: 123, startedAt: T, ...over });

describe('packed result ring', () => {
  it('reads back every field as written across its range, packed or spilled', () => {
    const cases: RingEntry[] = [
      entry(),
      entry({ status: 'fail', reason: 'timeout', latencyUs: 0, startedAt: T + 1 }),
      entry({ status: 'fail-now', reason: 'refused', latencyUs: 2 ** 24 - 1, startedAt: T + 2 ** 32 - 2 }),
      entry({ latencyUs: 2 ** 24 }), // beyond 24 bits: spilled
      entry({ latencyUs: 2 ** 34 }),
      entry({ startedAt: T + 0.5 }), // not whole ms: spilled
      entry({ startedAt: 0 }), // before the base: moves it
      entry({ startedAt: 2 ** 52 }),
    ];
    const ring = ringOf(cases.length);
    ring.reset(0);
    cases.forEach((e, pos) => ring.write(0, pos, e));
    cases.forEach((e, pos) => expect(ring.read(0, pos)).toStrictEqual(e));
  });

  it('keeps only rare entries whole: a steady stream of probes packs', () => {
    const ring = ringOf(100);
    for (let slot = 0; slot < 10; slot++) ring.reset(slot);
    for (let n = 0; n < 1000; n++) ring.write(n % 10, Math.floor(n / 10) % 100, entry({ startedAt: T + n * 5000, latencyUs: n * 37 }));
    expect(ring.spilled).toBe(0);
    expect(ring.read(3, 99)).toStrictEqual(entry({ startedAt: T + 993 * 5000, latencyUs: 993 * 37 }));
  });

  it('gives the 64th and later reason codes exactly, and forgets a spilled entry once overwritten or reset', () => {
    const ring = ringOf(4);
    ring.reset(0);
    for (let r = 0; r < 70; r++) ring.write(0, r % 4, entry({ reason: `reason-${r}` }));
    expect([0, 1, 2, 3].map((p) => ring.read(0, p).reason)).toEqual(['reason-68', 'reason-69', 'reason-66', 'reason-67']);
    expect(ring.spilled).toBe(4);
    ring.write(0, 0, entry({ reason: 'reason-1' }));
    expect(ring.spilled).toBe(3);
    ring.reset(0);
    expect(ring.spilled).toBe(0);
  });

  it('moves a slot to a new base after 49 days and still gives its older entries exactly', () => {
    const ring = ringOf(3);
    ring.reset(0);
    ring.reset(1);
    ring.write(0, 0, entry({ startedAt: T }));
    ring.write(0, 1, entry({ startedAt: T + 10 * DAY }));
    ring.write(1, 0, entry({ startedAt: T }));
    ring.write(0, 2, entry({ startedAt: T + 60 * DAY })); // off the base by more than 2^32 ms
    expect([0, 1, 2].map((p) => ring.read(0, p).startedAt)).toEqual([T, T + 10 * DAY, T + 60 * DAY]);
    expect(ring.spilled).toBe(2);
    // The newer entries pack against the new base; the other slot was not touched.
    ring.write(0, 0, entry({ startedAt: T + 61 * DAY }));
    expect(ring.read(0, 0).startedAt).toBe(T + 61 * DAY);
    expect(ring.spilled).toBe(1);
    expect(ring.read(1, 0).startedAt).toBe(T);
  });

  it('grows by doubling and keeps what every slot held', () => {
    const ring = ringOf(2);
    for (let slot = 0; slot < 500; slot++) {
      ring.reset(slot);
      ring.write(slot, 1, entry({ startedAt: T + slot, latencyUs: slot }));
    }
    for (let slot = 0; slot < 500; slot++) expect(ring.read(slot, 1)).toStrictEqual(entry({ startedAt: T + slot, latencyUs: slot }));
  });
});
