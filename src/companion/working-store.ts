/**
 * The companion's store: the Nacos server holds the instances, so the local copy of them and their
 * probe state live in memory only and are rebuilt from the server's view at every start; only what
 * an operator sets on the companion itself (whitelist, switches, checker configs) is kept on disk.
 * This also keeps a disk write per mirrored instance (and the health batches) off the companion:
 * with `synchronous: full` the first poll of 10,000 instances would otherwise cost 10,000 fsyncs.
 *
 * With peers the shared store plays the same part: it holds the cluster (members, shard leases)
 * and what operators set, shared by every companion node, never the mirrored instances or their
 * health: the Nacos server is where health is shared, and a node taking an instance over starts
 * from what the server shows.
 */
import type { ChangeSink } from '../cluster/change-poller.js';
import { VigilError } from '../errors.js';
import type { OpenedStore } from '../registry/open-store.js';
import type { Store } from '../registry/store.js';

export function workingStore(inner: Store): Store {
  return {
    load: () => ({ ...inner.load(), instances: [] }),
    putInstance: () => {},
    putHealthBatch: async () => {},
    deleteInstance: () => {},
    putCheckerConfig: (key, value) => inner.putCheckerConfig(key, value),
    deleteCheckerConfig: (key) => inner.deleteCheckerConfig(key),
    putWhitelist: (entry) => inner.putWhitelist(entry),
    deleteWhitelist: (id) => inner.deleteWhitelist(id),
    putSwitch: (name, value) => inner.putSwitch(name, value),
    close: () => inner.close(),
  };
}

/**
 * The shared store as companion nodes use it. A database that holds instances belongs to a
 * cluster that is its own registry: refused (and closed), as the two would fight over it.
 */
export async function sharedWorkingStore(opened: OpenedStore): Promise<OpenedStore> {
  const { store, snapshot } = opened;
  if (snapshot && snapshot.instances.length > 0) {
    await store.close();
    throw new VigilError(
      'VIGIL_ERR_CONFIG_INVALID',
      `store.url: this database holds ${snapshot.instances.length} registered instances (a vigil cluster that is its own registry); companion nodes need a database of their own`,
      'store.url',
    );
  }
  return {
    ...opened,
    store: {
      putInstance: async () => {},
      deleteInstance: async () => {},
      putCheckerConfig: (key, value) => store.putCheckerConfig(key, value),
      deleteCheckerConfig: (key) => store.deleteCheckerConfig(key),
      putWhitelist: (entry) => store.putWhitelist(entry),
      deleteWhitelist: (id) => store.deleteWhitelist(id),
      putSwitch: (name, value) => store.putSwitch(name, value),
      close: () => store.close(),
    },
    ...(snapshot ? { snapshot: { ...snapshot, instances: [] } } : {}),
  };
}

/**
 * What the cluster's change feed gives a companion node: no instances or health. Its database holds
 * no instances, and the feed's reconcile would otherwise deregister every mirrored instance as "not
 * in the store". Settings (whitelist, switches, checker configs) are shared all the same: the daemon
 * adds the registry's `applySettings` (daemon-cluster.ts).
 */
export const COMPANION_SINK: Omit<ChangeSink, 'applySettings'> = {
  stampOf: () => undefined,
  applyHealth: () => {},
  applyInstance: () => {},
  instanceKeys: () => [],
};
