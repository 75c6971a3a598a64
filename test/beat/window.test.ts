import { describe, expect, it } from 'vitest';
import { createRenewalWindow } from '../../src/beat/window.js';

const T0 = 1_700_000_000_000;

describe('renewal window', () => {
  it('counts beats and expected beats per closed bucket and reports full once a window has passed', () => {
    const w = createRenewalWindow(3000, 1000, T0);
    const rate = 10 / 5000; // ten instances beating every 5 s
    for (let s = 1; s <= 3; s++) {
      w.beat(2);
      w.advance(T0 + s * 1000, rate);
    }
    expect(w.totals()).toEqual({ beats: 6, expected: 6, deleted: 0, full: true });
  });

  it('is not full before a whole window has been observed', () => {
    const w = createRenewalWindow(3000, 1000, T0);
    w.beat(5);
    w.advance(T0 + 2000, 0.002);
    expect(w.totals()).toMatchObject({ beats: 5, expected: 4, full: false });
  });

  it('forgets buckets that slid out of the window', () => {
    const w = createRenewalWindow(2000, 1000, T0);
    w.beat(100);
    w.advance(T0 + 1000, 0.001);
    w.advance(T0 + 3000, 0.001);
    expect(w.totals()).toMatchObject({ beats: 0, expected: 2, full: true });
  });

  it('counts deletions of the open bucket at once, so one sweep sees what the previous deleted', () => {
    const w = createRenewalWindow(2000, 1000, T0);
    w.deleted(4);
    expect(w.totals().deleted).toBe(4);
    w.advance(T0 + 1000, 0);
    w.advance(T0 + 2000, 0);
    expect(w.totals().deleted).toBe(4);
    w.advance(T0 + 3000, 0);
    expect(w.totals().deleted).toBe(0);
  });

  it('starts over after a gap longer than the window', () => {
    const w = createRenewalWindow(2000, 1000, T0);
    w.beat(7);
    w.advance(T0 + 10_500, 0.001);
    expect(w.totals()).toEqual({ beats: 0, expected: 0, deleted: 0, full: false });
    w.advance(T0 + 12_000, 0.001);
    expect(w.totals()).toMatchObject({ expected: 2, full: true });
  });
});
