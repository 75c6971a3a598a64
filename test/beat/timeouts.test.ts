import { describe, expect, it } from 'vitest';
import { checkTimeouts, parseTimeouts, resolveTimeouts, type BeatTimeouts } from '../../src/beat/timeouts.js';

const NACOS: BeatTimeouts = { intervalMs: 5000, heartbeatTimeoutMs: 15000, deleteTimeoutMs: 30000 };

describe('beat timeouts from preserved.* metadata', () => {
  it('stores nothing for an instance without overrides', () => {
    expect(parseTimeouts({ version: '1' })).toEqual({ ok: true, value: undefined });
  });

  it('reads each override in milliseconds and keeps the defaults for the rest', () => {
    const parsed = parseTimeouts({ 'preserved.heart.beat.timeout': '2000', 'preserved.ip.delete.timeout': '4000' });
    expect(parsed).toEqual({ ok: true, value: { heartbeatTimeoutMs: 2000, deleteTimeoutMs: 4000 } });
    expect(resolveTimeouts(parsed.ok ? parsed.value : undefined, NACOS)).toEqual({ intervalMs: 5000, heartbeatTimeoutMs: 2000, deleteTimeoutMs: 4000 });
  });

  it('refuses a value that is not whole milliseconds, naming the key', () => {
    for (const bad of ['abc', '-1', '0', '1.5', '', '86400001']) {
      const r = parseTimeouts({ 'preserved.heart.beat.interval': bad });
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.key).toBe('preserved.heart.beat.interval');
    }
  });

  it('refuses an interval not shorter than the heartbeat timeout, and a heartbeat timeout past the delete timeout', () => {
    expect(checkTimeouts(NACOS)).toBeUndefined();
    expect(checkTimeouts({ ...NACOS, intervalMs: 15000 })).toMatch(/preserved.heart.beat.interval/);
    expect(checkTimeouts({ ...NACOS, deleteTimeoutMs: 10000 })).toMatch(/preserved.ip.delete.timeout/);
    expect(checkTimeouts({ intervalMs: 1000, heartbeatTimeoutMs: 3000, deleteTimeoutMs: 3000 })).toBeUndefined();
  });
});
