/**
 * Opens the store the config names, with the health path that goes with it: the embedded SQLite
 * store with its batched health writer (one node), or the shared MySQL store, whose health writes
 * are fenced publications made by the cluster node instead (daemon-cluster.ts), so the registry's
 * health writer there is a no-op.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { createHealthWriter, type HealthWriter } from './health-writer.js';
import { openMysqlStore, type MysqlStore } from './mysql-store.js';
import type { RegistryStore } from './registry.js';
import { openSqliteStore } from './sqlite-store.js';
import type { Store, StoreSnapshot } from './store.js';

export interface OpenedStore {
  readonly store: RegistryStore & { close(): Promise<void> };
  readonly healthWriter: Pick<HealthWriter, 'put' | 'forget' | 'close'>;
  /** Set for the shared store: the cluster node runs on it. */
  readonly mysql?: MysqlStore;
  /** What the shared store held at start (it cannot be read synchronously). */
  readonly snapshot?: StoreSnapshot;
}

/** Health of the shared store is published by the cluster node, never written from here. */
const NO_HEALTH_WRITER: OpenedStore['healthWriter'] = { put: () => {}, forget: () => {}, close: async () => {} };

/** `wrapEmbedded`: companion mode keeps the embedded store behind its working-store layer. */
export async function openStore(config: Config, logger: Logger, wrapEmbedded?: (store: Store) => Store): Promise<OpenedStore> {
  if (config.store.kind === 'mysql' && config.store.url !== undefined) {
    const mysql = await openMysqlStore({ url: config.store.url, poolSize: config.store.poolSize, queryTimeoutMs: config.store.queryTimeoutMs });
    try {
      return { store: mysql, healthWriter: NO_HEALTH_WRITER, mysql, snapshot: await mysql.load() };
    } catch (err) {
      await mysql.close();
      throw err;
    }
  }
  const disk = openSqliteStore({ dataDir: config.store.dataDir, synchronous: config.store.synchronous });
  const store = wrapEmbedded ? wrapEmbedded(disk) : disk;
  const healthWriter = createHealthWriter({ store, logger, batchMs: config.persistence.healthBatchMs, maxBatch: config.persistence.healthMaxBatch });
  return { store, healthWriter };
}

/** The password inside a mysql:// URL, so log lines can mask it wherever it appears. */
export function mysqlPassword(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
