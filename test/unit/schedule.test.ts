import { describe, expect, it } from 'vitest';
import {
  ADAPTIVE_DEFAULTS,
  DEFAULT_POLICY,
  backoffAfterSkip,
  baseInterval,
  initialDelay,
  nextDelay,
  updateEwma,
  validatePolicy,
  withJitter,
  type IntervalPolicy,
} from '../../src/health/schedule.js';

const fixed = (r: number) => (): number => r;
const steadyUp = { healthy: true, okStreak: 5, failStreak: 0 };
const adaptive: IntervalPolicy = { ...DEFAULT_POLICY, adaptive: ADAPTIVE_DEFAULTS.tcp };

describe('defaults', () => {
  it('probes every 5 s, 1 s while flipping, 10 s while down, ±10 %', () => {
    expect(DEFAULT_POLICY).toEqual({ intervalMs: 5000, fastIntervalMs: 1000, downIntervalMs: 10_000, jitter: 0.1 });
    expect(validatePolicy(DEFAULT_POLICY)).toBeUndefined();
  });

  it("carries Nacos's adaptive parameters per type", () => {
    expect(ADAPTIVE_DEFAULTS).toEqual({
      tcp: { minMs: 1000, maxMs: 5000, factor: 0.75 },
      http: { minMs: 500, maxMs: 5000, factor: 0.85 },
      mysql: { minMs: 2000, maxMs: 3000, factor: 0.65 },
    });
  });
});

describe('initialDelay', () => {
  it('spreads the first probe over [0, intervalMs)', () => {
    expect(initialDelay(DEFAULT_POLICY, fixed(0))).toBe(0);
    expect(initialDelay(DEFAULT_POLICY, fixed(0.5))).toBe(2500);
    expect(initialDelay(DEFAULT_POLICY, fixed(0.99999))).toBe(4999);
  });

  it('stays below the interval even if random() misbehaves and returns 1', () => {
    expect(initialDelay(DEFAULT_POLICY, fixed(1))).toBe(4999);
  });
});

describe('baseInterval', () => {
  it('uses the steady interval while healthy', () => {
    expect(baseInterval(DEFAULT_POLICY, steadyUp)).toBe(5000);
    expect(baseInterval(DEFAULT_POLICY, { healthy: true, okStreak: 0, failStreak: 0 })).toBe(5000);
  });

  it('probes fast while a healthy instance is failing, to confirm the fall quickly', () => {
    expect(baseInterval(DEFAULT_POLICY, { healthy: true, okStreak: 0, failStreak: 1 })).toBe(1000);
  });

  it('probes fast while a down instance is recovering', () => {
    expect(baseInterval(DEFAULT_POLICY, { healthy: false, okStreak: 2, failStreak: 0 })).toBe(1000);
  });

  it('probes slowly while down and not recovering', () => {
    expect(baseInterval(DEFAULT_POLICY, { healthy: false, okStreak: 0, failStreak: 7 })).toBe(10_000);
  });

  it('follows the response-time average when adaptive, clamped to [min, max]', () => {
    expect(baseInterval(adaptive, steadyUp, 2500)).toBe(2500);
    expect(baseInterval(adaptive, steadyUp, 3)).toBe(1000);
    expect(baseInterval(adaptive, steadyUp, 60_000)).toBe(5000);
    expect(baseInterval(adaptive, steadyUp)).toBe(5000); // no sample yet: the steady interval, clamped
  });

  it('keeps fast and down intervals when adaptive', () => {
    expect(baseInterval(adaptive, { healthy: true, okStreak: 0, failStreak: 1 }, 2500)).toBe(1000);
    expect(baseInterval(adaptive, { healthy: false, okStreak: 0, failStreak: 1 }, 2500)).toBe(10_000);
  });

  it('ignores the average when not adaptive', () => {
    expect(baseInterval(DEFAULT_POLICY, steadyUp, 2500)).toBe(5000);
  });
});

describe('withJitter', () => {
  it('spreads by ± the fraction', () => {
    expect(withJitter(5000, 0.1, fixed(0))).toBe(4500);
    expect(withJitter(5000, 0.1, fixed(0.5))).toBe(5000);
    expect(withJitter(5000, 0.1, fixed(0.75))).toBe(5250);
  });

  it('rounds to whole milliseconds', () => {
    expect(withJitter(1001, 0.1, fixed(0.3))).toBe(961); // 1001 * 0.96 = 960.96
  });

  it('never returns less than 1 ms', () => {
    expect(withJitter(1, 0.5, fixed(0))).toBe(1);
    expect(withJitter(0, 0.5, fixed(0.9))).toBe(1);
  });

  it('is exact without jitter', () => {
    expect(withJitter(5000, 0, fixed(0.123))).toBe(5000);
  });
});

describe('updateEwma', () => {
  const tcp = ADAPTIVE_DEFAULTS.tcp;
  it('blends the previous average with the new sample (f*prev + (1-f)*rt)', () => {
    expect(updateEwma(2000, 4000, tcp)).toBe(2500);
  });

  it('starts from the first sample', () => {
    expect(updateEwma(undefined, 1500, tcp)).toBe(1500);
  });

  it('clamps to [min, max]', () => {
    expect(updateEwma(undefined, 3, tcp)).toBe(1000);
    expect(updateEwma(1000, 5, tcp)).toBe(1000);
    expect(updateEwma(5000, 60_000, tcp)).toBe(5000);
  });

  it('uses the MySQL range', () => {
    expect(updateEwma(2000, 10_000, ADAPTIVE_DEFAULTS.mysql)).toBe(3000);
  });
});

describe('backoffAfterSkip', () => {
  it('keeps the delay when nothing was skipped', () => {
    expect(backoffAfterSkip(1000, 0, 60_000)).toBe(1000);
  });

  it('doubles per consecutive skip', () => {
    expect(backoffAfterSkip(1000, 1, 60_000)).toBe(2000);
    expect(backoffAfterSkip(1000, 3, 60_000)).toBe(8000);
  });

  it('caps the growth at maxMs', () => {
    expect(backoffAfterSkip(1000, 10, 60_000)).toBe(60_000);
    expect(backoffAfterSkip(1000, 5000, 60_000)).toBe(60_000);
  });

  it('never shortens a delay that is already above the cap', () => {
    expect(backoffAfterSkip(90_000, 2, 60_000)).toBe(90_000);
  });
});

describe('nextDelay', () => {
  it('jitters the base interval', () => {
    expect(nextDelay(DEFAULT_POLICY, steadyUp, fixed(0))).toBe(4500);
    expect(nextDelay(DEFAULT_POLICY, { healthy: false, okStreak: 0, failStreak: 3 }, fixed(0.75))).toBe(10_500);
    expect(nextDelay(adaptive, steadyUp, fixed(0.5), 2000)).toBe(2000);
  });
});

describe('validatePolicy', () => {
  const cases: Array<[Partial<IntervalPolicy> & Record<string, unknown>, string]> = [
    [{ intervalMs: 0 }, 'intervalMs'],
    [{ fastIntervalMs: 0 }, 'fastIntervalMs'],
    [{ fastIntervalMs: Number.NaN }, 'fastIntervalMs'],
    [{ downIntervalMs: -1 }, 'downIntervalMs'],
    [{ downIntervalMs: Infinity }, 'downIntervalMs'],
    [{ jitter: -0.01 }, 'jitter'],
    [{ jitter: 0.51 }, 'jitter'],
    [{ adaptive: { minMs: 0, maxMs: 10, factor: 0.5 } }, 'adaptive.minMs'],
    [{ adaptive: { minMs: 20, maxMs: 10, factor: 0.5 } }, 'adaptive.maxMs'],
    [{ adaptive: { minMs: 10, maxMs: 10, factor: 1 } }, 'adaptive.factor'],
    [{ adaptive: { minMs: 10, maxMs: 10, factor: -0.1 } }, 'adaptive.factor'],
  ];
  it.each(cases)('names the bad field in %o', (patch, field) => {
    expect(validatePolicy({ ...DEFAULT_POLICY, ...patch } as IntervalPolicy)).toBe(field);
  });

  it('accepts the edges of every range', () => {
    expect(validatePolicy({ ...DEFAULT_POLICY, jitter: 0 })).toBeUndefined();
    expect(validatePolicy({ ...DEFAULT_POLICY, jitter: 0.5 })).toBeUndefined();
    expect(validatePolicy({ ...DEFAULT_POLICY, adaptive: { minMs: 10, maxMs: 10, factor: 0 } })).toBeUndefined();
    expect(validatePolicy(adaptive)).toBeUndefined();
  });
});
