import { describe, expect, it, vi } from 'vitest';
import { createFdAlarm, isFdExhaustion } from '../../src/runtime/fd-alarm.js';
import { apiConnectionCap, parseFdLimit, readFdLimit } from '../../src/runtime/fd-limits.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 1048576              files
Max locked memory         8388608              8388608              bytes
`;

describe('descriptor limits', () => {
  it('reads the soft open-files limit from /proc/self/limits text', () => {
    expect(parseFdLimit(LIMITS)).toBe(1024);
    expect(parseFdLimit(LIMITS.replace('1024                 1048576', 'unlimited            unlimited'))).toBeUndefined();
    expect(parseFdLimit('no such line')).toBeUndefined();
  });

  it('treats an unreadable limits file as unknown', () => {
    expect(
      readFdLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
  });

  it('caps API connections so that the reserved descriptors stay free for probes', () => {
    expect(apiConnectionCap(4096, 1024, 256)).toBe(768);
    expect(apiConnectionCap(500, 1024, 256)).toBe(500);
    expect(apiConnectionCap(4096, undefined, 256)).toBe(4096);
    expect(apiConnectionCap(4096, 100, 256)).toBe(1);
  });
});

describe('descriptor exhaustion alarm', () => {
  it('logs one error per burst with the count, split by where it happened', () => {
    vi.useFakeTimers();
    try {
      const error = vi.fn();
      const alarm = createFdAlarm({ logger: { error } as never, windowMs: 1000 });
      for (let i = 0; i < 700; i++) alarm.record('probe');
      for (let i = 0; i < 3; i++) alarm.record('accept');
      expect(error).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1000);
      expect(error).toHaveBeenCalledTimes(1);
      expect(error.mock.calls[0]![0]).toEqual({ count: 703, by: { probe: 700, accept: 3 } });
      vi.advanceTimersByTime(10_000);
      expect(error).toHaveBeenCalledTimes(1);
      alarm.record('probe');
      alarm.close();
      expect(error).toHaveBeenCalledTimes(2);
      expect(error.mock.calls[1]![0]).toEqual({ count: 1, by: { probe: 1 } });
    } finally {
      vi.useRealTimers();
    }
  });

  it('recognises EMFILE and ENFILE by code only', () => {
    expect(isFdExhaustion(Object.assign(new Error('x'), { code: 'EMFILE' }))).toBe(true);
    expect(isFdExhaustion(Object.assign(new Error('x'), { code: 'ENFILE' }))).toBe(true);
    expect(isFdExhaustion(Object.assign(new Error('EMFILE'), { code: 'ECONNRESET' }))).toBe(false);
  });
});
