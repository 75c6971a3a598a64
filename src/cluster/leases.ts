/**
 * Shard leases in the shared database: read them all with the database's time, and carry out a
 * plan (lease-plan.ts). Each statement repeats the plan's conditions in its WHERE clause, so a plan
 * made on a read that has since gone stale does nothing rather than harm:
 *
 * - acquire: only a free or expired row, and bump its epoch (every new holding is a new epoch, which
 *   fences off whatever the previous holder still has in flight);
 * - renew: only a row this node holds with the same epoch and not yet expired (a lapsed lease is
 *   never silently revived; it must be re-acquired under a new epoch);
 * - release: only a row this node holds with the same epoch.
 *
 * Every call reports what this node holds afterwards among the shards it touched, with epochs, so
 * the caller's lease table (lease-table.ts) reflects the database, not the request.
 */
import { DB_NOW_MS, type Sql } from '../registry/mysql/db.js';
import type { LeaseRow } from './lease-plan.js';
import type { Shard } from './shards.js';

export interface ShardEpoch {
  readonly shard: Shard;
  readonly epoch: number;
}

export interface LeaseStoreOptions {
  readonly db: Sql;
  readonly nodeId: string;
  /** How long an acquired or renewed lease lasts, by database time. */
  readonly ttlMs: number;
}

export interface LeaseStore {
  read(): Promise<{ now: number; leases: LeaseRow[] }>;
  acquire(shards: readonly Shard[]): Promise<ShardEpoch[]>;
  /** Returns the leases renewed; the ones missing were lost and must no longer be probed. */
  renew(leases: readonly ShardEpoch[]): Promise<ShardEpoch[]>;
  release(leases: readonly ShardEpoch[]): Promise<void>;
}

const pairs = (leases: readonly ShardEpoch[]) => leases.map(() => '(?, ?)').join(', ');
const flat = (leases: readonly ShardEpoch[]) => leases.flatMap((l) => [l.shard, l.epoch]);

export function createLeaseStore(opts: LeaseStoreOptions): LeaseStore {
  const { db, nodeId, ttlMs } = opts;

  /** The unexpired leases this node holds among `shards`. */
  async function heldAmong(shards: readonly Shard[]): Promise<ShardEpoch[]> {
    return db.rows<ShardEpoch>(
      `SELECT shard, epoch FROM vigil_shard_leases WHERE owner = ? AND expires_at > ${DB_NOW_MS} AND shard IN (?) ORDER BY shard`,
      [nodeId, shards],
    );
  }

  return {
    async read() {
      const rows = await db.rows<LeaseRow & { now: number }>(
        `SELECT shard, owner, epoch, expires_at AS expiresAt, n.now AS now
         FROM (SELECT ${DB_NOW_MS} AS now) n LEFT JOIN vigil_shard_leases ON TRUE ORDER BY shard`,
      );
      const now = rows[0]?.now ?? 0;
      const leases = rows.filter((r) => r.shard !== null).map(({ shard, owner, epoch, expiresAt }) => ({ shard, owner, epoch, expiresAt }));
      return { now, leases };
    },
    async acquire(shards) {
      if (shards.length === 0) return [];
      await db.run(
        `UPDATE vigil_shard_leases SET owner = ?, epoch = epoch + 1, expires_at = ${DB_NOW_MS} + ?
         WHERE shard IN (?) AND (owner IS NULL OR expires_at <= ${DB_NOW_MS})`,
        [nodeId, ttlMs, shards],
      );
      return heldAmong(shards);
    },
    async renew(leases) {
      if (leases.length === 0) return [];
      await db.run(
        `UPDATE vigil_shard_leases SET expires_at = ${DB_NOW_MS} + ?
         WHERE owner = ? AND expires_at > ${DB_NOW_MS} AND (shard, epoch) IN (${pairs(leases)})`,
        [ttlMs, nodeId, ...flat(leases)],
      );
      const held = await heldAmong(leases.map((l) => l.shard));
      const wanted = new Set(leases.map((l) => `${l.shard}:${l.epoch}`));
      return held.filter((l) => wanted.has(`${l.shard}:${l.epoch}`));
    },
    async release(leases) {
      if (leases.length === 0) return;
      await db.run(`UPDATE vigil_shard_leases SET owner = NULL, expires_at = 0 WHERE owner = ? AND (shard, epoch) IN (${pairs(leases)})`, [
        nodeId,
        ...flat(leases),
      ]);
    },
  };
}
