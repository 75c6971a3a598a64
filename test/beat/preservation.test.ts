import { describe, expect, it } from 'vitest';
import { decidePreservation, IDLE, transitionOf, wantedReason, type PreservationInput, type PreservationPolicy } from '../../src/beat/preservation.js';

const POLICY: PreservationPolicy = { enabled: true, minInstances: 10, maxExpireFraction: 0.25, renewalThreshold: 0.85, maxHoldMs: 600_000 };
const CALM: PreservationInput = { population: 200, due: 0, deletedInWindow: 0, beats: 600, expected: 600, windowFull: true };
const T0 = 1_700_000_000_000;

describe('self-preservation: when to hold deletions', () => {
  it('deletes normally when few instances expire and beats arrive as expected', () => {
    expect(wantedReason({ ...CALM, due: 5 }, POLICY)).toBeNull();
    expect(decidePreservation(IDLE, { ...CALM, due: 5 }, POLICY, T0)).toEqual(IDLE);
  });

  it('holds when one sweep would delete more than the fraction', () => {
    expect(wantedReason({ ...CALM, due: 51 }, POLICY)).toBe('burst');
    expect(wantedReason({ ...CALM, due: 50 }, POLICY)).toBeNull();
  });

  it('holds when the deletions of the window plus this sweep exceed the fraction (a cut expires instances over a whole beat interval)', () => {
    // 40 already deleted this window out of 200 + 40; 21 more would make 61 > 0.25 × 240.
    expect(wantedReason({ ...CALM, population: 200, due: 21, deletedInWindow: 40 }, POLICY)).toBe('burst');
    expect(wantedReason({ ...CALM, population: 200, due: 20, deletedInWindow: 40 }, POLICY)).toBeNull();
  });

  it('holds when beats fall below the renewal threshold, but only once the window was observed whole', () => {
    expect(wantedReason({ ...CALM, beats: 509 }, POLICY)).toBe('renewals');
    expect(wantedReason({ ...CALM, beats: 510 }, POLICY)).toBeNull();
    expect(wantedReason({ ...CALM, beats: 0, windowFull: false }, POLICY)).toBeNull();
  });

  it('never holds below minInstances: a single instance that stops beating must go', () => {
    expect(wantedReason({ population: 1, due: 1, deletedInWindow: 0, beats: 0, expected: 3, windowFull: true }, POLICY)).toBeNull();
  });

  it('never holds when switched off', () => {
    expect(wantedReason({ ...CALM, due: 200 }, { ...POLICY, enabled: false })).toBeNull();
  });
});

describe('self-preservation: the hold over time', () => {
  it('engages with the time it began and keeps that time while the condition lasts', () => {
    const a = decidePreservation(IDLE, { ...CALM, due: 200 }, POLICY, T0);
    expect(a).toEqual({ engaged: true, reason: 'burst', since: T0, exhausted: false });
    const b = decidePreservation(a, { ...CALM, beats: 0 }, POLICY, T0 + 1000);
    expect(b).toEqual({ engaged: true, reason: 'renewals', since: T0, exhausted: false });
    expect(transitionOf(IDLE, a)).toBe('engaged');
    expect(transitionOf(a, b)).toBeUndefined();
  });

  it('releases as soon as the condition clears', () => {
    const a = decidePreservation(IDLE, { ...CALM, due: 200 }, POLICY, T0);
    const b = decidePreservation(a, CALM, POLICY, T0 + 5000);
    expect(b).toEqual(IDLE);
    expect(transitionOf(a, b)).toBe('released');
  });

  it('gives up a hold after maxHoldMs and stays given up until the condition clears', () => {
    const a = decidePreservation(IDLE, { ...CALM, due: 200 }, POLICY, T0);
    const b = decidePreservation(a, { ...CALM, due: 200 }, POLICY, T0 + 599_999);
    expect(b.engaged).toBe(true);
    const c = decidePreservation(b, { ...CALM, due: 200 }, POLICY, T0 + 600_000);
    expect(c).toEqual({ engaged: false, reason: 'burst', since: T0, exhausted: true });
    expect(transitionOf(b, c)).toBe('exhausted');
    const d = decidePreservation(c, { ...CALM, beats: 0 }, POLICY, T0 + 700_000);
    expect(d.engaged).toBe(false);
    const e = decidePreservation(d, CALM, POLICY, T0 + 701_000);
    expect(e).toEqual(IDLE);
    expect(decidePreservation(e, { ...CALM, due: 200 }, POLICY, T0 + 702_000)).toMatchObject({ engaged: true, since: T0 + 702_000 });
  });

  it('holds forever with maxHoldMs 0', () => {
    const a = decidePreservation(IDLE, { ...CALM, due: 200 }, { ...POLICY, maxHoldMs: 0 }, T0);
    expect(decidePreservation(a, { ...CALM, due: 200 }, { ...POLICY, maxHoldMs: 0 }, T0 + 86_400_000).engaged).toBe(true);
  });
});
