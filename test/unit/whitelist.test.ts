import { describe, expect, it } from 'vitest';
import {
  createMatcher,
  isExpired,
  matchWhitelist,
  validateEntry,
  type InstanceRef,
  type WhitelistEntry,
} from '../../src/health/whitelist.js';

const NOW = 1_700_000_000_000;
let seq = 0;
const entry = (e: Partial<WhitelistEntry>): WhitelistEntry => ({ id: `e${++seq}`, reason: 'deploy', createdAt: NOW - 1000, ...e });
const inst = (i: Partial<InstanceRef> = {}): InstanceRef => ({
  namespace: 'public', group: 'DEFAULT_GROUP', service: 'orders', cluster: 'DEFAULT', ip: '10.1.2.3', port: 3306, ...i,
});

/** Every assertion runs against both implementations, which must agree. */
function match(entries: WhitelistEntry[], i: InstanceRef, now = NOW): WhitelistEntry | undefined {
  const plain = matchWhitelist(entries, i, now);
  expect(createMatcher(entries, now).match(i)).toBe(plain);
  return plain;
}

describe('isExpired', () => {
  it('expires when expiresAt == now, not a millisecond earlier', () => {
    expect(isExpired(entry({ expiresAt: NOW }), NOW)).toBe(true);
    expect(isExpired(entry({ expiresAt: NOW + 1 }), NOW)).toBe(false);
    expect(isExpired(entry({}), Number.MAX_SAFE_INTEGER)).toBe(false);
  });
});

describe('matchWhitelist', () => {
  it('skips expired entries and returns the first live one in order', () => {
    const old = entry({ service: 'orders', expiresAt: NOW });
    const live = entry({ service: 'orders', expiresAt: NOW + 1 });
    const later = entry({ ip: '10.1.2.3' });
    expect(match([old, live, later], inst())).toBe(live);
    expect(match([old, later, live], inst())).toBe(later);
    expect(match([old], inst())).toBeUndefined();
  });

  it('requires every given field to match (AND)', () => {
    const e = entry({ service: 'orders', cluster: 'east', ip: '10.1.2.3' });
    expect(match([e], inst({ cluster: 'east' }))).toBe(e);
    expect(match([e], inst({ cluster: 'west' }))).toBeUndefined();
    expect(match([e], inst({ cluster: 'east', ip: '10.1.2.4' }))).toBeUndefined();
    expect(match([e], inst({ cluster: 'east', service: 'billing' }))).toBeUndefined();
  });

  it('matches any namespace unless one is given', () => {
    const any = entry({ service: 'orders' });
    const dev = entry({ service: 'orders', namespace: 'dev' });
    expect(match([any], inst({ namespace: 'dev' }))).toBe(any);
    expect(match([dev], inst({ namespace: 'dev' }))).toBe(dev);
    expect(match([dev], inst({ namespace: 'public' }))).toBeUndefined();
  });

  it('reads a bare service name as DEFAULT_GROUP', () => {
    const bare = entry({ service: 'orders' });
    expect(match([bare], inst())).toBe(bare);
    expect(match([bare], inst({ group: 'PAY' }))).toBeUndefined();
  });

  it('matches group@@name against the instance group and service', () => {
    const grouped = entry({ service: 'PAY@@orders' });
    expect(match([grouped], inst({ group: 'PAY' }))).toBe(grouped);
    expect(match([grouped], inst())).toBeUndefined();
    const dflt = entry({ service: 'DEFAULT_GROUP@@orders' });
    expect(match([dflt], inst())).toBe(dflt);
  });

  it('accepts an instance whose service is already grouped', () => {
    const e = entry({ service: 'orders' });
    expect(match([e], inst({ service: 'DEFAULT_GROUP@@orders' }))).toBe(e);
  });

  it('narrows a service to one cluster', () => {
    const e = entry({ service: 'orders', cluster: 'east' });
    expect(match([e], inst({ cluster: 'east' }))).toBe(e);
    expect(match([e], inst())).toBeUndefined();
  });

  it('matches ip alone on every port, ip:port on one', () => {
    const host = entry({ ip: '10.1.2.3' });
    const one = entry({ ip: '10.1.2.3', port: 3306 });
    expect(match([host], inst({ port: 1 }))).toBe(host);
    expect(match([one], inst())).toBe(one);
    expect(match([one], inst({ port: 3307 }))).toBeUndefined();
  });

  it('compares IPv6 addresses by value, not by spelling', () => {
    const e = entry({ ip: '2001:DB8::1' });
    expect(match([e], inst({ ip: '2001:db8:0:0:0:0:0:1' }))).toBe(e);
    expect(match([e], inst({ ip: '2001:db8::2' }))).toBeUndefined();
    expect(match([entry({ ip: '::1' })], inst({ ip: '127.0.0.1' }))).toBeUndefined();
  });

  it('matches IPv4 CIDRs /8, /32 and /0', () => {
    const slash8 = entry({ cidr: '10.0.0.0/8' });
    expect(match([slash8], inst({ ip: '10.255.255.255' }))).toBe(slash8);
    expect(match([slash8], inst({ ip: '11.0.0.0' }))).toBeUndefined();
    expect(match([slash8], inst({ ip: '9.255.255.255' }))).toBeUndefined();
    const slash32 = entry({ cidr: '10.1.2.3/32' });
    expect(match([slash32], inst())).toBe(slash32);
    expect(match([slash32], inst({ ip: '10.1.2.4' }))).toBeUndefined();
    const all = entry({ cidr: '0.0.0.0/0' });
    expect(match([all], inst({ ip: '203.0.113.9' }))).toBe(all);
    expect(match([all], inst({ ip: '::1' }))).toBeUndefined();
  });

  it('ignores host bits in a CIDR', () => {
    const e = entry({ cidr: '10.1.2.3/8' });
    expect(match([e], inst({ ip: '10.9.9.9' }))).toBe(e);
  });

  it('matches IPv6 CIDRs /64', () => {
    const e = entry({ cidr: '2001:db8:1:2::/64' });
    expect(match([e], inst({ ip: '2001:db8:1:2:ffff:ffff:ffff:ffff' }))).toBe(e);
    expect(match([e], inst({ ip: '2001:db8:1:3::1' }))).toBeUndefined();
    expect(match([e], inst({ ip: '10.1.2.3' }))).toBeUndefined();
    const all = entry({ cidr: '::/0' });
    expect(match([all], inst({ ip: 'fe80::1' }))).toBe(all);
  });

  it('parses IPv6 with an embedded IPv4 tail', () => {
    const e = entry({ cidr: '::ffff:0:0/96' });
    expect(match([e], inst({ ip: '::ffff:10.1.2.3' }))).toBe(e);
    expect(match([entry({ ip: '::ffff:a01:203' })], inst({ ip: '::ffff:10.1.2.3' }))).toBeDefined();
  });

  it('combines a CIDR with a service', () => {
    const e = entry({ cidr: '10.0.0.0/8', service: 'orders' });
    expect(match([e], inst())).toBe(e);
    expect(match([e], inst({ service: 'billing' }))).toBeUndefined();
  });

  it('matches nothing for an entry whose address cannot be parsed', () => {
    expect(match([entry({ cidr: 'nonsense' })], inst())).toBeUndefined();
    expect(match([entry({ ip: '10.1.2' })], inst())).toBeUndefined();
    expect(match([entry({ service: 'orders' })], inst({ ip: 'not-an-ip' }))).toBeDefined();
  });
});

describe('createMatcher', () => {
  it('reports when it must be rebuilt', () => {
    expect(createMatcher([entry({ ip: '10.0.0.1' })], NOW).validUntil).toBe(Infinity);
    const m = createMatcher([entry({ ip: '10.0.0.1', expiresAt: NOW + 50 }), entry({ ip: '10.0.0.2', expiresAt: NOW + 20 }), entry({ ip: '10.0.0.3', expiresAt: NOW })], NOW);
    expect(m.validUntil).toBe(NOW + 20);
  });

  it('agrees with matchWhitelist on a random mix of entries and instances', () => {
    let x = 42;
    const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    const ips = ['10.0.0.1', '10.0.0.2', '10.0.1.1', '192.168.1.1', '2001:db8::1', '2001:db8:0:1::5', '::1'];
    const cidrs = ['10.0.0.0/8', '10.0.0.0/24', '10.0.0.1/32', '0.0.0.0/0', '2001:db8::/32', '2001:db8::/64', '::/0'];
    const services = ['orders', 'PAY@@orders', 'billing', 'DEFAULT_GROUP@@billing'];
    const entries: WhitelistEntry[] = [];
    for (let i = 0; i < 60; i++) {
      const e: Record<string, unknown> = {};
      if (rnd(2)) e.service = pick(services);
      if (e.service && rnd(3) === 0) e.cluster = pick(['DEFAULT', 'east']);
      if (rnd(3) === 0) e.ip = pick(ips);
      else if (rnd(2)) e.cidr = pick(cidrs);
      if (e.ip && rnd(2)) e.port = pick([80, 3306]);
      if (rnd(4) === 0) e.namespace = pick(['public', 'dev']);
      if (rnd(4) === 0) e.expiresAt = NOW - 10 + rnd(20);
      entries.push(entry(e));
    }
    const m = createMatcher(entries, NOW);
    let hits = 0;
    for (let i = 0; i < 2000; i++) {
      const ref = inst({
        namespace: pick(['public', 'dev']), group: pick(['DEFAULT_GROUP', 'PAY']), service: pick(['orders', 'billing', 'stock']),
        cluster: pick(['DEFAULT', 'east']), ip: pick(ips), port: pick([80, 3306]),
      });
      const want = matchWhitelist(entries, ref, NOW);
      if (want) hits++;
      expect(m.match(ref)).toBe(want);
    }
    expect(hits).toBeGreaterThan(100);
  });
});

describe('validateEntry', () => {
  it('accepts a full entry and returns only the given fields', () => {
    const input = { namespace: 'dev', service: 'PAY@@orders', cluster: 'east', ip: '10.1.2.3', port: 3306, expiresAt: NOW, reason: 'deploy' };
    expect(validateEntry(input)).toEqual({ ok: true, value: input });
    expect(validateEntry({ cidr: '2001:db8::/64', reason: 'r' })).toEqual({ ok: true, value: { cidr: '2001:db8::/64', reason: 'r' } });
  });

  it.each<[unknown, string]>([
    [null, 'entry'],
    [[], 'entry'],
    ['ip=1.2.3.4', 'entry'],
    [{ service: 'orders', reason: 'r', foo: 1 }, 'foo'],
    [{ service: 'orders', reason: 'r', id: 'x' }, 'id'],
    [{ reason: 'r' }, 'service'],
    [{ namespace: 'dev', reason: 'r' }, 'service'],
    [{ service: '', reason: 'r' }, 'service'],
    [{ service: 42, reason: 'r' }, 'service'],
    [{ service: '@@orders', reason: 'r' }, 'service'],
    [{ service: 'a@@b@@c', reason: 'r' }, 'service'],
    [{ namespace: '', service: 'orders', reason: 'r' }, 'namespace'],
    [{ cluster: 'east', reason: 'r' }, 'cluster'],
    [{ cluster: 'east', ip: '10.0.0.1', reason: 'r' }, 'cluster'],
    [{ ip: '10.0.0.256', reason: 'r' }, 'ip'],
    [{ ip: 'fe80::1%eth0', reason: 'r' }, 'ip'],
    [{ ip: '10.0.0.1', port: 0, reason: 'r' }, 'port'],
    [{ ip: '10.0.0.1', port: 65536, reason: 'r' }, 'port'],
    [{ ip: '10.0.0.1', port: 80.5, reason: 'r' }, 'port'],
    [{ ip: '10.0.0.1', port: '80', reason: 'r' }, 'port'],
    [{ service: 'orders', port: 80, reason: 'r' }, 'port'],
    [{ cidr: '10.0.0.0/33', reason: 'r' }, 'cidr'],
    [{ cidr: '2001:db8::/129', reason: 'r' }, 'cidr'],
    [{ cidr: '10.0.0.0', reason: 'r' }, 'cidr'],
    [{ cidr: '10.0.0.0/-1', reason: 'r' }, 'cidr'],
    [{ cidr: '10.0.0.0/8', ip: '10.0.0.1', reason: 'r' }, 'cidr'],
    [{ service: 'orders', expiresAt: 0, reason: 'r' }, 'expiresAt'],
    [{ service: 'orders', expiresAt: 1.5, reason: 'r' }, 'expiresAt'],
    [{ service: 'orders', expiresAt: '2030-01-01', reason: 'r' }, 'expiresAt'],
    [{ service: 'orders' }, 'reason'],
    [{ service: 'orders', reason: '   ' }, 'reason'],
    [{ service: 'orders', reason: 'x'.repeat(501) }, 'reason'],
  ])('names the bad field of %j', (input, field) => {
    const r = validateEntry(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe(field);
      expect(r.message).not.toBe('');
    }
  });

  it('accepts a reason of exactly 500 characters and the port and prefix edges', () => {
    expect(validateEntry({ service: 'orders', reason: 'x'.repeat(500) }).ok).toBe(true);
    expect(validateEntry({ ip: '::1', port: 65535, reason: 'r' }).ok).toBe(true);
    expect(validateEntry({ ip: '10.0.0.1', port: 1, reason: 'r' }).ok).toBe(true);
    expect(validateEntry({ cidr: '0.0.0.0/0', reason: 'r' }).ok).toBe(true);
    expect(validateEntry({ cidr: '::/128', reason: 'r' }).ok).toBe(true);
  });

  it('rejects an expiry in the past only when told the time', () => {
    expect(validateEntry({ service: 'orders', reason: 'r', expiresAt: NOW }).ok).toBe(true);
    expect(validateEntry({ service: 'orders', reason: 'r', expiresAt: NOW }, NOW)).toMatchObject({ ok: false, field: 'expiresAt' });
    expect(validateEntry({ service: 'orders', reason: 'r', expiresAt: NOW + 1 }, NOW).ok).toBe(true);
  });

  it('treats keys set to undefined as absent', () => {
    expect(validateEntry({ service: 'orders', ip: undefined, reason: 'r' })).toEqual({ ok: true, value: { service: 'orders', reason: 'r' } });
  });
});
