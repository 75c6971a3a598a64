/**
 * The embedded store: SQLite through better-sqlite3, in WAL mode. Each write is its own committed
 * transaction before the call returns; `synchronous=FULL` (default) also survives power loss,
 * `NORMAL` survives a process crash (kill -9) but not power loss, and is faster. Health batches
 * are committed by a worker thread on its own connection (sqlite-health-worker.ts). A failed write
 * throws VIGIL_ERR_STORE (503) and the caller changes nothing in memory.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { VigilError } from '../errors.js';
import { startHealthWorker } from './sqlite-health-worker.js';
import type { Store, StoreSnapshot } from './store.js';

export interface SqliteStoreOptions {
  readonly dataDir: string;
  readonly synchronous?: 'full' | 'normal';
}

const TABLES = ['instances', 'checker_configs', 'whitelist', 'switches'] as const;

export function openSqliteStore(opts: SqliteStoreOptions): Store {
  let db: Database.Database;
  const file = join(opts.dataDir, 'vigil.db');
  const synchronous = opts.synchronous === 'normal' ? 'NORMAL' : 'FULL';
  try {
    mkdirSync(opts.dataDir, { recursive: true });
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('busy_timeout = 5000');
    for (const t of TABLES) db.exec(`CREATE TABLE IF NOT EXISTS ${t} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    db.exec('CREATE TABLE IF NOT EXISTS health (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  } catch (err) {
    throw new VigilError('VIGIL_ERR_STORE', `cannot open the store in ${opts.dataDir}: ${(err as Error).message}`, 'dataDir', { cause: err });
  }

  const put = (table: string) => db.prepare(`INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`);
  const del = (table: string) => db.prepare(`DELETE FROM ${table} WHERE key = ?`);
  const all = (table: string) => db.prepare(`SELECT key, value FROM ${table}`);
  const stmts = {
    putInstance: put('instances'),
    delInstance: del('instances'),
    putHealth: put('health'),
    delHealth: del('health'),
    putChecker: put('checker_configs'),
    delChecker: del('checker_configs'),
    putWhitelist: put('whitelist'),
    delWhitelist: del('whitelist'),
    putSwitch: put('switches'),
  };
  const putInstanceTx = db.transaction((key: string, inst: string, health: string) => {
    stmts.putInstance.run(key, inst);
    stmts.putHealth.run(key, health);
  });
  const deleteInstanceTx = db.transaction((key: string) => {
    stmts.delInstance.run(key);
    stmts.delHealth.run(key);
  });

  const healthWorker = startHealthWorker(file, synchronous);
  /** A synchronous write that fails becomes VIGIL_ERR_STORE, so the API answers 503 and memory stays as it was. */
  const guarded =
    <A extends unknown[]>(what: string, fn: (...args: A) => unknown) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (err) {
        throw new VigilError('VIGIL_ERR_STORE', `${what} failed: ${(err as Error).message}`, 'store', { cause: err });
      }
    };

  function rows(table: string): Array<{ key: string; value: unknown }> {
    return (all(table).all() as Array<{ key: string; value: string }>).map((r) => ({ key: r.key, value: JSON.parse(r.value) }));
  }

  return {
    load(): StoreSnapshot {
      const health = new Map(rows('health').map((r) => [r.key, r.value]));
      return {
        instances: rows('instances').map((r) => ({ key: r.key, instance: r.value, health: health.get(r.key) }) as StoreSnapshot['instances'][number]),
        checkerConfigs: rows('checker_configs').map((r) => ({ key: r.key, ...(r.value as object) }) as StoreSnapshot['checkerConfigs'][number]),
        whitelist: rows('whitelist').map((r) => r.value) as StoreSnapshot['whitelist'],
        switches: Object.fromEntries(rows('switches').map((r) => [r.key, r.value])),
      };
    },
    putInstance: guarded('storing an instance', (key: string, instance, health) => putInstanceTx(key, JSON.stringify(instance), JSON.stringify(health))),
    putHealthBatch: (entries) => healthWorker.write(entries),
    deleteInstance: guarded('deleting an instance', (key: string) => deleteInstanceTx(key)),
    putCheckerConfig: guarded('storing a checker config', (key: string, value) => stmts.putChecker.run(key, JSON.stringify(value))),
    deleteCheckerConfig: guarded('deleting a checker config', (key: string) => stmts.delChecker.run(key)),
    putWhitelist: guarded('storing a whitelist entry', (entry: { id: string }) => stmts.putWhitelist.run(entry.id, JSON.stringify(entry))),
    deleteWhitelist: guarded('deleting a whitelist entry', (id: string) => stmts.delWhitelist.run(id)),
    putSwitch: guarded('storing a switch', (name: string, value: unknown) => stmts.putSwitch.run(name, JSON.stringify(value))),
    async close() {
      await healthWorker.close();
      if (db.open) db.close();
    },
  };
}
