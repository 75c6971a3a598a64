import { describe, expect, it } from 'vitest';
import { createStageTimings } from '../../src/cluster/stage-timings.js';

describe('stage timings', () => {
  it('summarises each recorded stage as count, p50, p99 and max, and leaves out stages without samples', () => {
    const t = createStageTimings();
    for (let ms = 1; ms <= 100; ms++) t.record('queuedToCommitted', ms);
    t.record('sentToAcked', 7.4);
    expect(t.summary()).toEqual({
      queuedToCommitted: { count: 100, p50: 51, p99: 100, max: 100 },
      sentToAcked: { count: 1, p50: 7, p99: 7, max: 7 },
    });
  });

  it('keeps only the last samples of a stage, so a wave is not diluted by the hours before it', () => {
    const t = createStageTimings(10);
    for (let i = 0; i < 1000; i++) t.record('committedToSent', 500);
    for (let i = 0; i < 10; i++) t.record('committedToSent', 3);
    expect(t.summary().committedToSent).toEqual({ count: 1010, p50: 3, p99: 3, max: 3 });
  });

  it('counts a negative duration (two wall clocks) as zero', () => {
    const t = createStageTimings();
    t.record('decidedToReceived', -4);
    expect(t.summary().decidedToReceived).toEqual({ count: 1, p50: 0, p99: 0, max: 0 });
  });
});
