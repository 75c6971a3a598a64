/** A node's memory as far as the cluster modules are concerned: health by key with stamps, instances. */
import type { ChangeSink } from '../../src/cluster/change-poller.js';
import type { Stamp } from '../../src/cluster/stamp.js';
import type { Instance } from '../../src/registry/model.js';
import type { HealthRow } from '../../src/registry/mysql-store.js';
import type { Settings, StoredHealth } from '../../src/registry/store.js';

export interface MemorySink extends ChangeSink {
  readonly health: Map<string, { stamp: Stamp; health: StoredHealth; node: string | null }>;
  readonly instances: Map<string, Instance>;
  /** The settings last applied (none yet: undefined); `applySettings` answers 1 when they changed. */
  settings: Settings | undefined;
  /** How many changes were applied (health and instances). */
  applied: number;
}

export function memorySink(): MemorySink {
  const sink: MemorySink = {
    health: new Map(),
    instances: new Map(),
    applied: 0,
    settings: undefined,
    stampOf: (key) => sink.health.get(key)?.stamp,
    applyHealth(r: HealthRow) {
      sink.applied++;
      sink.health.set(r.key, { stamp: { epoch: r.epoch, version: r.health.health.version }, health: r.health, node: r.decidedByNode });
    },
    instanceKeys: () => sink.instances.keys(),
    applyInstance(key, inst) {
      sink.applied++;
      if (inst) sink.instances.set(key, inst);
      else sink.instances.delete(key);
    },
    // 1 when anything differs from what it held (nothing held: no settings at all).
    applySettings({ checkerConfigs, whitelist, switches }) {
      const next = { checkerConfigs, whitelist, switches };
      const changed = JSON.stringify(next) === JSON.stringify(sink.settings ?? { checkerConfigs: [], whitelist: [], switches: {} }) ? 0 : 1;
      sink.settings = next;
      return changed;
    },
  };
  return sink;
}
