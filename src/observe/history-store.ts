/**
 * Uptime counts on disk (hourly for a day, daily for `days`), so uptime over 24 h, 7 d and 30 d
 * survives a restart. They live in
 * their own SQLite file beside the store (`history.db`): they are this node's observations, not
 * registry data, and losing the last minute of them to a crash costs a rounding error, so they
 * are written in one batch a minute (and at stop) with synchronous=NORMAL.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { VigilError } from '../errors.js';
import type { BucketRow } from './history.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface HistoryStore {
  load(now: number, days: number): BucketRow[];
  write(rows: readonly BucketRow[]): void;
  forget(key: string): void;
  close(): void;
}

export function openHistoryStore(dataDir: string): HistoryStore {
  let db: Database.Database;
  try {
    // A cluster node's data dir holds only this file; nothing else has created it.
    mkdirSync(dataDir, { recursive: true });
    db = new Database(join(dataDir, 'history.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec('CREATE TABLE IF NOT EXISTS buckets (key TEXT NOT NULL, kind TEXT NOT NULL, idx INTEGER NOT NULL, probes INTEGER NOT NULL, ok INTEGER NOT NULL, PRIMARY KEY (key, kind, idx)) WITHOUT ROWID');
  } catch (err) {
    throw new VigilError('VIGIL_ERR_STORE', `cannot open the history store in ${dataDir}: ${(err as Error).message}`, 'dataDir', { cause: err });
  }
  const upsert = db.prepare('INSERT INTO buckets (key, kind, idx, probes, ok) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key, kind, idx) DO UPDATE SET probes = excluded.probes, ok = excluded.ok');
  const writeAll = db.transaction((rows: readonly BucketRow[]) => {
    for (const r of rows) upsert.run(r.key, r.kind, r.index, r.probes, r.ok);
  });
  const del = db.prepare('DELETE FROM buckets WHERE key = ?');
  const prune = db.prepare("DELETE FROM buckets WHERE (kind = 'h' AND idx <= ?) OR (kind = 'd' AND idx <= ?)");
  const all = db.prepare('SELECT key, kind, idx AS "index", probes, ok FROM buckets');

  return {
    load(now, days) {
      prune.run(Math.floor(now / HOUR) - 24, Math.floor(now / DAY) - days);
      return all.all() as BucketRow[];
    },
    write(rows) {
      if (rows.length > 0) writeAll(rows);
    },
    forget: (key) => void del.run(key),
    close: () => db.close(),
  };
}
