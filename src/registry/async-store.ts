/**
 * The store contract as it must become for a store across the network (MySQL): the same
 * operations as store.ts, each resolving once the write is durable, so the registry acknowledges a
 * change only after the store has it. `asyncStore()` adapts today's synchronous embedded store to
 * it, so one contract test runs against both (test/registry/store-contract.test.ts).
 *
 * One rule the synchronous contract leaves open and this one fixes: `putInstance` stores the
 * health it is given only for a new instance. For an existing one the health record belongs to
 * whoever decides it (the shard owner, through putHealth), and a node that only relays a
 * registration must not overwrite it with its own, possibly older, copy.
 */
import type { WhitelistEntry } from '../health/whitelist.js';
import type { Instance } from './model.js';
import type { Store, StoredCheckerConfig, StoredHealth, StoreSnapshot } from './store.js';

export interface AsyncStore {
  load(): Promise<StoreSnapshot>;
  putInstance(key: string, instance: Instance, health: StoredHealth): Promise<void>;
  putHealth(key: string, health: StoredHealth): Promise<void>;
  deleteInstance(key: string): Promise<void>;
  putCheckerConfig(key: string, value: StoredCheckerConfig): Promise<void>;
  deleteCheckerConfig(key: string): Promise<void>;
  putWhitelist(entry: WhitelistEntry): Promise<void>;
  deleteWhitelist(id: string): Promise<void>;
  putSwitch(name: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

/** The synchronous store behind the asynchronous contract (a rejected promise where it throws). */
export function asyncStore(store: Store): AsyncStore {
  const lift =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    async (...args: A): Promise<R> =>
      fn(...args);
  return {
    load: lift(() => store.load()),
    // The embedded store overwrites the health of an existing instance; on one node the registry
    // always passes the current record, so the rule above holds there without a read per write.
    putInstance: lift((key: string, instance: Instance, health: StoredHealth) => store.putInstance(key, instance, health)),
    // The embedded store writes health in batches (off the event loop); one record is a batch of one.
    putHealth: (key: string, health: StoredHealth) => store.putHealthBatch([{ key, health }]),
    deleteInstance: lift((key: string) => store.deleteInstance(key)),
    putCheckerConfig: lift((key: string, value: StoredCheckerConfig) => store.putCheckerConfig(key, value)),
    deleteCheckerConfig: lift((key: string) => store.deleteCheckerConfig(key)),
    putWhitelist: lift((entry: WhitelistEntry) => store.putWhitelist(entry)),
    deleteWhitelist: lift((id: string) => store.deleteWhitelist(id)),
    putSwitch: lift((name: string, value: unknown) => store.putSwitch(name, value)),
    close: () => store.close(),
  };
}
