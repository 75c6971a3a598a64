import { describe, expect, it } from 'vitest';
import { initialState } from '../../src/health/state-machine.js';
import type { Instance, InstanceRecord } from '../../src/registry/model.js';
import { createSubscribers } from '../../src/nacos/subscribers.js';
import { listView, selectHosts } from '../../src/nacos/views.js';

const T0 = 1_700_000_000_000;
const T = { intervalMs: 5000, heartbeatTimeoutMs: 15000, deleteTimeoutMs: 30000 };

function rec(port: number, healthy: boolean, extra: Partial<Instance> = {}): InstanceRecord {
  const instance: Instance = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc', cluster: 'DEFAULT', ip: '10.0.0.1', port, weight: 1, enabled: true, ephemeral: true, metadata: {}, registeredAt: T0, ...extra };
  return { instance, health: initialState(T0, healthy) };
}

describe('instance/list selection', () => {
  it('leaves out disabled instances and filters by clusters and health', () => {
    const recs = [rec(1, true), rec(2, false), rec(3, true, { enabled: false }), rec(4, true, { cluster: 'B' })];
    expect(selectHosts(recs, '', false, 0).hosts.map((h) => h.rec.instance.port)).toEqual([1, 2, 4]);
    expect(selectHosts(recs, 'DEFAULT', false, 0).hosts.map((h) => h.rec.instance.port)).toEqual([1, 2]);
    expect(selectHosts(recs, 'DEFAULT,B', true, 0).hosts.map((h) => h.rec.instance.port)).toEqual([1, 4]);
  });

  it('shows every host healthy once the healthy share is at or below the protect threshold', () => {
    const recs = [rec(1, true), rec(2, false), rec(3, false), rec(4, false)];
    const r = selectHosts(recs, '', true, 0.25);
    expect(r.reached).toBe(true);
    expect(r.hosts.map((h) => h.healthy)).toEqual([true, true, true, true]);
    expect(selectHosts(recs, '', true, 0.2).reached).toBe(false);
  });

  it('echoes name and clusters exactly as requested, in the documented shape', () => {
    const v = listView({ name: 'DEFAULT_GROUP@@svc', group: 'DEFAULT_GROUP', clusters: '', healthyOnly: false }, selectHosts([rec(8080, true)], '', false, 0), () => T, 10000, T0);
    expect(JSON.parse(JSON.stringify(v))).toEqual({
      name: 'DEFAULT_GROUP@@svc',
      groupName: 'DEFAULT_GROUP',
      clusters: '',
      cacheMillis: 10000,
      hosts: [
        {
          instanceId: '10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@svc',
          ip: '10.0.0.1',
          port: 8080,
          weight: 1,
          healthy: true,
          enabled: true,
          ephemeral: true,
          clusterName: 'DEFAULT',
          serviceName: 'DEFAULT_GROUP@@svc',
          metadata: {},
          instanceHeartBeatInterval: 5000,
          instanceHeartBeatTimeOut: 15000,
          ipDeleteTimeout: 30000,
        },
      ],
      lastRefTime: T0,
      checksum: '',
      allIPs: false,
      reachProtectionThreshold: false,
      valid: true,
    });
  });
});

describe('push subscribers', () => {
  const svc = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc' };
  const req = { name: 'DEFAULT_GROUP@@svc', group: 'DEFAULT_GROUP', clusters: 'DEFAULT', healthyOnly: false };

  it('keeps a subscription alive while it is refreshed and drops it ttl after the last refresh', () => {
    const subs = createSubscribers(30_000, 10);
    subs.touch(svc, req, '127.0.0.1', 5000, T0);
    subs.touch(svc, req, '127.0.0.1', 5000, T0 + 20_000);
    expect(subs.forService('public/DEFAULT_GROUP@@svc', T0 + 50_000)).toHaveLength(1);
    expect(subs.forService('public/DEFAULT_GROUP@@svc', T0 + 50_001)).toHaveLength(0);
    expect(subs.size).toBe(0);
  });

  it('refuses subscriptions beyond the maximum', () => {
    const subs = createSubscribers(30_000, 2);
    expect(subs.touch(svc, req, '127.0.0.1', 1, T0)).toBe(true);
    expect(subs.touch(svc, req, '127.0.0.1', 2, T0)).toBe(true);
    expect(subs.touch(svc, req, '127.0.0.1', 3, T0)).toBe(false);
    expect(subs.touch(svc, req, '127.0.0.1', 1, T0 + 1)).toBe(true);
  });
});
