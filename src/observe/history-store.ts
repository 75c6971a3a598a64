/**
 * Hourly uptime aggregates on disk, so uptime over 7 and 30 days survives a restart. They live in
 * their own SQLite file beside the store (`history.db`): they are this node's observations, not
 * registry data, and losing the last minute of them to a crash costs a rounding error, so they
 * are written in one batch a minute (and at stop) with synchronous=NORMAL.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { VigilError } from '../errors.js';
import type { HourRow } from './history.js';

const HOUR = 3_600_000;

export interface HistoryStore {
  load(now: number, days: number): HourRow[];
  write(rows: readonly HourRow[]): void;
  forget(key: string): void;
  close(): void;
}

export function openHistoryStore(dataDir: string): HistoryStore {
  let db: Database.Database;
  try {
    db = new Database(join(dataDir, 'history.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE IF NOT EXISTS hourly (key TEXT NOT NULL, hour INTEGER NOT NULL, probes INTEGER NOT NULL, ok INTEGER NOT NULL, PRIMARY KEY (key, hour)) WITHOUT ROWID');
  } catch (err) {
    throw new VigilError('VIGIL_ERR_STORE', `cannot open the history store in ${dataDir}: ${(err as Error).message}`, 'dataDir', { cause: err });
  }
  const upsert = db.prepare('INSERT INTO hourly (key, hour, probes, ok) VALUES (?, ?, ?, ?) ON CONFLICT(key, hour) DO UPDATE SET probes = excluded.probes, ok = excluded.ok');
  const writeAll = db.transaction((rows: readonly HourRow[]) => {
    for (const r of rows) upsert.run(r.key, r.hour, r.probes, r.ok);
  });
  const del = db.prepare('DELETE FROM hourly WHERE key = ?');
  const prune = db.prepare('DELETE FROM hourly WHERE hour <= ?');
  const all = db.prepare('SELECT key, hour, probes, ok FROM hourly');

  return {
    load(now, days) {
      prune.run(Math.floor(now / HOUR) - days * 24);
      return all.all() as HourRow[];
    },
    write(rows) {
      if (rows.length > 0) writeAll(rows);
    },
    forget: (key) => void del.run(key),
    close: () => db.close(),
  };
}
