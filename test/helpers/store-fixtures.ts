/** Literal registry records for the store tests: a persistent instance and its health. */
import type { HealthState } from '../../src/health/state-machine.js';
import { instanceKey, type Instance } from '../../src/registry/model.js';
import type { StoredHealth } from '../../src/registry/store.js';

export function instance(ip: string, port = 3306, service = 'mysql-orders'): { key: string; instance: Instance } {
  const inst: Instance = {
    namespace: 'public',
    group: 'DEFAULT_GROUP',
    service,
    cluster: 'DEFAULT',
    ip,
    port,
    weight: 1,
    enabled: true,
    ephemeral: false,
    metadata: { zone: 'a' },
    registeredAt: 1_700_000_000_000,
  };
  return { key: instanceKey(inst), instance: inst };
}

export function health(fields: Partial<HealthState> = {}, lastProbe?: StoredHealth['lastProbe']): StoredHealth {
  const h: HealthState = { healthy: true, since: 1_700_000_000_000, version: 1, okStreak: 0, failStreak: 0, reason: 'initial', decidedBy: 'initial', ...fields };
  return lastProbe ? { health: h, lastProbe } : { health: h };
}
