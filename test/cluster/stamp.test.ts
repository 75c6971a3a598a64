import { describe, expect, it } from 'vitest';
import { compareStamps, isNewer } from '../../src/cluster/stamp.js';

describe('stamps (epoch, version)', () => {
  it('orders by epoch first: a new owner wins even with a lower version', () => {
    expect(compareStamps({ epoch: 5, version: 1 }, { epoch: 4, version: 90 })).toBeGreaterThan(0);
    expect(isNewer({ epoch: 4, version: 90 }, { epoch: 5, version: 1 })).toBe(false);
  });

  it('orders by version within one epoch', () => {
    expect(isNewer({ epoch: 3, version: 8 }, { epoch: 3, version: 7 })).toBe(true);
    expect(isNewer({ epoch: 3, version: 7 }, { epoch: 3, version: 8 })).toBe(false);
  });

  it('does not re-apply the same copy, and applies anything when nothing is held', () => {
    expect(isNewer({ epoch: 3, version: 7 }, { epoch: 3, version: 7 })).toBe(false);
    expect(compareStamps({ epoch: 3, version: 7 }, { epoch: 3, version: 7 })).toBe(0);
    expect(isNewer({ epoch: 0, version: 1 }, undefined)).toBe(true);
  });
});
