import { describe, expect, it, vi } from 'vitest';
import { createResourcePool, targetKey } from '../../src/health/resources.js';

interface Conn {
  readonly key: string;
  closed: boolean;
}

/** A fake connection factory: the pool under test only stores and disposes, so no socket is needed. */
function conns() {
  const made: Conn[] = [];
  return {
    made,
    create: (key: string) => () => {
      const conn = { key, closed: false };
      made.push(conn);
      return conn;
    },
    dispose: (conn: Conn) => {
      conn.closed = true;
    },
    open: () => made.filter((c) => !c.closed).map((c) => c.key),
  };
}

describe('resource pool: use and evict', () => {
  it('creates a resource once per key and returns the same one after', () => {
    const pool = createResourcePool();
    const cache = pool.scope('http');
    const create = vi.fn(() => ({ id: 1 }));
    const first = cache.use('127.0.0.1:80', create, () => {});
    const second = cache.use('127.0.0.1:80', create, () => {});
    expect(second).toBe(first);
    expect(create).toHaveBeenCalledTimes(1);
    expect(pool.size).toBe(1);
  });

  it('keeps the resources of different checker types apart under the same key', () => {
    const pool = createResourcePool();
    const a = pool.scope('http').use('127.0.0.1:80', () => ({ t: 'http' }), () => {});
    const b = pool.scope('mysql').use('127.0.0.1:80', () => ({ t: 'mysql' }), () => {});
    expect(a).not.toBe(b);
    expect(pool.size).toBe(2);
  });

  it('evict() disposes the resource and the next use() creates a new one', async () => {
    const pool = createResourcePool();
    const cache = pool.scope('mysql');
    const c = conns();
    const first = cache.use('127.0.0.1:3306', c.create('a'), c.dispose);
    await cache.evict('127.0.0.1:3306');
    expect(first.closed).toBe(true);
    expect(pool.size).toBe(0);
    const second = cache.use('127.0.0.1:3306', c.create('b'), c.dispose);
    expect(second).not.toBe(first);
    expect(second.closed).toBe(false);
  });

  it('evict() of an unknown key does nothing', async () => {
    const pool = createResourcePool();
    await expect(pool.scope('http').evict('127.0.0.1:1')).resolves.toBeUndefined();
  });

  it('evict() waits for an async dispose', async () => {
    const pool = createResourcePool();
    let closed = false;
    pool.scope('http').use('127.0.0.1:80', () => ({}), async () => {
      await Promise.resolve();
      closed = true;
    });
    await pool.scope('http').evict('127.0.0.1:80');
    expect(closed).toBe(true);
  });

  it('evict(key, resource) leaves a resource that replaced the given one since', async () => {
    const pool = createResourcePool();
    const cache = pool.scope('mysql');
    const c = conns();
    // Probe A took `stale`; probe B evicted it and cached `fresh`; A now fails and evicts its own.
    const stale = cache.use('127.0.0.1:3306', c.create('stale'), c.dispose);
    await cache.evict('127.0.0.1:3306');
    const fresh = cache.use('127.0.0.1:3306', c.create('fresh'), c.dispose);
    await cache.evict('127.0.0.1:3306', stale);
    expect(fresh.closed).toBe(false);
    expect(cache.use('127.0.0.1:3306', c.create('never'), c.dispose)).toBe(fresh);
    expect(c.made.map((m) => m.key)).toEqual(['stale', 'fresh']);
  });

  it('evict(key, resource) closes the resource when it is still the one cached', async () => {
    const pool = createResourcePool();
    const cache = pool.scope('mysql');
    const c = conns();
    const conn = cache.use('127.0.0.1:3306', c.create('a'), c.dispose);
    await cache.evict('127.0.0.1:3306', conn);
    expect(conn.closed).toBe(true);
    expect(pool.size).toBe(0);
  });

  it('evict(key, resource) of an empty key does nothing and does not dispose the resource', async () => {
    const pool = createResourcePool();
    const c = conns();
    const orphan = c.create('orphan')();
    await pool.scope('mysql').evict('127.0.0.1:3306', orphan);
    expect(orphan.closed).toBe(false);
    expect(pool.size).toBe(0);
  });
});

describe('resource pool: sweepIdle with an injected clock', () => {
  it('closes only resources unused for idleMs or longer', async () => {
    let now = 1_000;
    const pool = createResourcePool(() => now);
    const cache = pool.scope('http');
    const c = conns();
    cache.use('10.0.0.1:80', c.create('old'), c.dispose);
    now = 1_400;
    cache.use('10.0.0.2:80', c.create('fresh'), c.dispose);

    now = 1_999;
    expect(await pool.sweepIdle(1_000)).toBe(0);
    now = 2_000;
    expect(await pool.sweepIdle(1_000)).toBe(1);
    expect(c.open()).toEqual(['fresh']);
    expect(pool.size).toBe(1);
  });

  it('counts a use() of an existing resource as activity', async () => {
    let now = 0;
    const pool = createResourcePool(() => now);
    const cache = pool.scope('http');
    const c = conns();
    cache.use('10.0.0.1:80', c.create('kept'), c.dispose);
    now = 900;
    cache.use('10.0.0.1:80', c.create('never'), c.dispose);
    now = 1_500;
    expect(await pool.sweepIdle(1_000)).toBe(0);
    expect(c.made.map((m) => m.key)).toEqual(['kept']);
  });
});

describe('resource pool: releaseTarget', () => {
  it('closes every resource of that host:port, across checker types, and nothing else', async () => {
    const pool = createResourcePool();
    const c = conns();
    pool.scope('http').use('127.0.0.1:80', c.create('http 127.0.0.1:80'), c.dispose);
    pool.scope('mysql').use('127.0.0.1:80|root|orders', c.create('mysql 127.0.0.1:80 user'), c.dispose);
    pool.scope('http').use('127.0.0.1:8080', c.create('http 127.0.0.1:8080'), c.dispose);
    pool.scope('http').use('127.0.0.10:80', c.create('http 127.0.0.10:80'), c.dispose);
    pool.scope('http').use('[::1]:80', c.create('http [::1]:80'), c.dispose);

    expect(await pool.releaseTarget('127.0.0.1', 80)).toBe(2);
    expect(c.open()).toEqual(['http 127.0.0.1:8080', 'http 127.0.0.10:80', 'http [::1]:80']);
  });

  it('matches IPv6 targets written [host]:port', async () => {
    const pool = createResourcePool();
    const c = conns();
    pool.scope('http').use(targetKey('::1', 80), c.create('v6 80'), c.dispose);
    pool.scope('mysql').use(`${targetKey('::1', 80)}|root|`, c.create('v6 80 mysql'), c.dispose);
    pool.scope('http').use('[::1]:8080', c.create('v6 8080'), c.dispose);
    pool.scope('http').use('[fe80::1]:80', c.create('other v6 80'), c.dispose);

    expect(targetKey('::1', 80)).toBe('[::1]:80');
    expect(await pool.releaseTarget('::1', 80)).toBe(2);
    expect(c.open()).toEqual(['v6 8080', 'other v6 80']);
  });

  it('returns 0 for a target without resources', async () => {
    const pool = createResourcePool();
    pool.scope('http').use('127.0.0.1:80', () => ({}), () => {});
    expect(await pool.releaseTarget('127.0.0.1', 81)).toBe(0);
    expect(pool.size).toBe(1);
  });
});

describe('resource pool: closeAll', () => {
  it('closes everything even when some disposers throw or reject', async () => {
    const pool = createResourcePool();
    const c = conns();
    pool.scope('a').use('127.0.0.1:1', () => ({}), () => {
      throw new Error('sync dispose failure');
    });
    pool.scope('a').use('127.0.0.1:2', c.create('two'), c.dispose);
    pool.scope('b').use('127.0.0.1:3', () => ({}), async () => {
      throw new Error('async dispose failure');
    });
    pool.scope('b').use('127.0.0.1:4', c.create('four'), c.dispose);

    await expect(pool.closeAll()).resolves.toBeUndefined();
    expect(c.open()).toEqual([]);
    expect(pool.size).toBe(0);
  });

  it('forgets a resource whose dispose throws, so evict does not try again', async () => {
    const pool = createResourcePool();
    const dispose = vi.fn(() => {
      throw new Error('nope');
    });
    pool.scope('a').use('127.0.0.1:1', () => ({}), dispose);
    await pool.scope('a').evict('127.0.0.1:1');
    await pool.scope('a').evict('127.0.0.1:1');
    await pool.closeAll();
    expect(dispose).toHaveBeenCalledTimes(1);
    expect(pool.size).toBe(0);
  });
});
