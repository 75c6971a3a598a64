import { describe, expect, it } from 'vitest';
import { createFailureLimiter } from '../../src/api/rate-limit.js';
import { parseConfig } from '../../src/config/load.js';
import { isVigilError } from '../../src/errors.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');

function refused(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isVigilError(err) ? `${err.code} ${err.field}` : String(err);
  }
}

describe('failed-login limiter', () => {
  it('refuses a client after max failures until the window that began with its first failure is over', () => {
    let now = T0;
    const limiter = createFailureLimiter({ max: 2, windowMs: 60_000 }, () => now);
    limiter.fail('10.0.0.1');
    now = T0 + 30_000;
    expect(refused(() => limiter.check('10.0.0.1'))).toBeUndefined();
    limiter.fail('10.0.0.1');
    expect(refused(() => limiter.check('10.0.0.1'))).toBe('VIGIL_ERR_LOGIN_RATE_LIMITED client');
    expect(refused(() => limiter.check('10.0.0.2'))).toBeUndefined();
    now = T0 + 59_999;
    expect(refused(() => limiter.check('10.0.0.1'))).toBe('VIGIL_ERR_LOGIN_RATE_LIMITED client');
    now = T0 + 60_000;
    expect(refused(() => limiter.check('10.0.0.1'))).toBeUndefined();
  });

  it('forgets the oldest client past maxClients, so a spray of addresses cannot grow memory', () => {
    const limiter = createFailureLimiter({ max: 1, windowMs: 60_000, maxClients: 2 }, () => T0);
    limiter.fail('a');
    limiter.fail('b');
    limiter.fail('c');
    expect(refused(() => limiter.check('a'))).toBeUndefined();
    expect(refused(() => limiter.check('b'))).toBe('VIGIL_ERR_LOGIN_RATE_LIMITED client');
    expect(refused(() => limiter.check('c'))).toBe('VIGIL_ERR_LOGIN_RATE_LIMITED client');
  });

  it('lets a credential that verified before through while the client is over its failures', () => {
    const limiter = createFailureLimiter({ max: 1, windowMs: 60_000 }, () => T0);
    limiter.succeed('good');
    limiter.fail('10.0.0.1');
    expect(refused(() => limiter.check('10.0.0.1', 'good'))).toBeUndefined();
    expect(refused(() => limiter.check('10.0.0.1', 'other'))).toBe('VIGIL_ERR_LOGIN_RATE_LIMITED client');
    expect(refused(() => limiter.check('10.0.0.1'))).toBe('VIGIL_ERR_LOGIN_RATE_LIMITED client');
  });

  it('is off with max 0', () => {
    const limiter = createFailureLimiter({ max: 0, windowMs: 60_000 }, () => T0);
    for (let i = 0; i < 100; i++) limiter.fail('a');
    expect(refused(() => limiter.check('a'))).toBeUndefined();
  });
});

describe('rate limit defaults', () => {
  it('limits reads and failed logins unless the config turns them off', () => {
    const { server } = parseConfig({});
    expect(server.readsPerSecond).toBe(1000);
    expect(server.loginFailuresPerMinute).toBe(10);
    expect(parseConfig({ server: { readsPerSecond: 0, loginFailuresPerMinute: 0 } }).server).toMatchObject({ readsPerSecond: 0, loginFailuresPerMinute: 0 });
  });
});
