/**
 * The companion's store: the Nacos server holds the instances, so the local copy of them and their
 * probe state live in memory only and are rebuilt from the server's view at every start; only what
 * an operator sets on the companion itself (whitelist, switches, checker configs) is kept on disk.
 * This also keeps a disk write per mirrored instance (and the health batches) off the companion:
 * with `synchronous: full` the first poll of 10,000 instances would otherwise cost 10,000 fsyncs.
 */
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
