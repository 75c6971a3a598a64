import { describe, expect, it } from 'vitest';
import { stageOf, stallOf } from '../../src/beat/expiry.js';

const T = { intervalMs: 5000, heartbeatTimeoutMs: 15000, deleteTimeoutMs: 30000 };
const BEAT = 1_700_000_000_000;

describe('expiry stage', () => {
  it('keeps an instance alive until the heartbeat timeout has passed', () => {
    expect(stageOf(BEAT, T, BEAT)).toBe('alive');
    expect(stageOf(BEAT, T, BEAT + 14_999)).toBe('alive');
  });

  it('marks it unhealthy at the heartbeat timeout and expires it at the delete timeout', () => {
    expect(stageOf(BEAT, T, BEAT + 15_000)).toBe('unhealthy');
    expect(stageOf(BEAT, T, BEAT + 29_999)).toBe('unhealthy');
    expect(stageOf(BEAT, T, BEAT + 30_000)).toBe('expired');
  });

  it('treats a beat from the future (clock stepped back) as alive', () => {
    expect(stageOf(BEAT + 10_000, T, BEAT)).toBe('alive');
  });
});

describe('stall of the process', () => {
  const SWEEP = 1000;
  const TOL = 250;

  it('counts nothing for a sweep that ran on time or a little late', () => {
    expect(stallOf(BEAT, BEAT + 1000, SWEEP, TOL)).toBe(0);
    expect(stallOf(BEAT, BEAT + 1250, SWEEP, TOL)).toBe(0);
  });

  it('counts everything beyond one sweep interval once the lateness exceeds the tolerance', () => {
    expect(stallOf(BEAT, BEAT + 1251, SWEEP, TOL)).toBe(251);
    // SIGSTOP for 40 s between two sweeps: 40 s of silence that is vigil's, not the instances'.
    expect(stallOf(BEAT, BEAT + 41_000, SWEEP, TOL)).toBe(40_000);
  });

  it('counts nothing when the clock went back', () => {
    expect(stallOf(BEAT, BEAT - 5000, SWEEP, TOL)).toBe(0);
  });

  it('extends deadlines by the stall: an instance that beat just before a 40 s stall is still alive after it', () => {
    const stalled = stallOf(BEAT + 500, BEAT + 41_500, SWEEP, TOL);
    const virtualNow = BEAT + 41_500 - stalled;
    expect(stageOf(BEAT, T, virtualNow)).toBe('alive');
    expect(stageOf(BEAT, T, BEAT + 41_500)).toBe('expired'); // what a naive sweeper would decide
  });
});
