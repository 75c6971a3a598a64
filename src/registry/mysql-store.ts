/**
 * The shared store: the registry in MySQL/MariaDB tables (migrations.ts), behind the asynchronous
 * store contract (async-store.ts), plus what several nodes need on top of it:
 *
 * - `putFencedHealth`: a health write that lands only while the writer holds the instance's shard
 *   lease with the epoch it names. The check and the write are one INSERT … SELECT from the lease
 *   row; InnoDB takes a shared lock on the lease row it reads, so an acquisition by another node
 *   (an UPDATE of that row) cannot slip between the check and the write.
 * - `changesSince`: every instance and health row changed at or after a database time, for the
 *   trailing-window poll that repairs a lost broadcast. Deregistrations leave a tombstone so that
 *   the poll sees them.
 * - Settings (checker configs, whitelist, switches): every write also bumps one version row, and
 *   `changesSince` reports that version, so a node re-reads the settings (`settings`, one
 *   statement) exactly when another node changed one. The row is locked first, so versions follow
 *   commit order: a read at version v holds every settings write up to v.
 */
import { shardOf } from '../cluster/shards.js';
import { compareStamps } from '../cluster/stamp.js';
import { VigilError } from '../errors.js';
import type { AsyncStore } from './async-store.js';
import type { Instance } from './model.js';
import { DB_NOW_MS, openMysql, type MysqlDb, type MysqlOptions, type Sql } from './mysql/db.js';
import { migrate } from './mysql/migrate.js';
import type { Settings, StoredHealth, StoreSnapshot } from './store.js';

export interface Fence {
  readonly nodeId: string;
  readonly epoch: number;
}

export interface HealthRow {
  readonly key: string;
  readonly health: StoredHealth;
  readonly epoch: number;
  /** The node that decided it (null: written without a fence, e.g. at registration). */
  readonly decidedByNode: string | null;
  readonly updatedAt: number;
}

/** One health write of a batch, under the epoch the writer believes it holds for the key's shard. */
export interface FencedWrite {
  readonly key: string;
  readonly health: StoredHealth;
  readonly epoch: number;
}

/**
 * What became of one write of a batch: written; refused by the fence (the lease moved on); refused
 * because the store holds a record at least as new (an operator's decision written meanwhile); or
 * the instance is gone.
 */
export type FencedOutcome = 'written' | 'stale' | 'superseded' | 'missing';

export interface Changes {
  /** Database time of the read: pass it (minus the window) to the next call. */
  readonly now: number;
  readonly instances: ReadonlyArray<{ key: string; instance: Instance | null; updatedAt: number }>;
  readonly health: readonly HealthRow[];
  /** The settings version at the same moment (bumped by every settings write, by any node). */
  readonly settingsVersion: number;
}

/** The operator's settings as stored, and the settings version they are at. */
export interface VersionedSettings extends Settings {
  readonly version: number;
}

export interface MysqlStore extends AsyncStore {
  putFencedHealth(key: string, health: StoredHealth, fence: Fence): Promise<void>;
  /**
   * Many fenced writes by one node in one INSERT … SELECT (one outcome per write, in order): a row
   * lands only while the node holds the shard's lease at the write's epoch, the instance is
   * registered and the stored stamp is older. InnoDB locks the lease, instance and health rows the
   * statement reads, so no acquisition or deregistration slips in between check and write.
   */
  putFencedHealthBatch(nodeId: string, writes: readonly FencedWrite[]): Promise<FencedOutcome[]>;
  /**
   * An operator's decision (override set, cleared or expired) taken on any node: `decide` runs on
   * the stored record, read under lock, and the result is written under the shard lease's current
   * epoch with a higher version, whoever holds the lease. The owner's next write of an older
   * version is refused (`putFencedHealthBatch`: 'superseded') until it has applied this one.
   * Resolves with what is stored now (unchanged when `decide` changes nothing).
   */
  putOperatorHealth(key: string, nodeId: string, decide: (stored: StoredHealth) => StoredHealth): Promise<HealthRow>;
  /** `held`, when given, says which health rows the caller already has (not parsed, not returned). */
  changesSince(dbTime: number, held?: (key: string, stamp: { epoch: number; version: number }) => boolean): Promise<Changes>;
  /** Which of `keys` are registered (not deleted) now. */
  liveInstances(keys: readonly string[]): Promise<Set<string>>;
  /** Every setting, with its version, from one snapshot. */
  settings(): Promise<VersionedSettings>;
  /**
   * Whether settings read at `version` may replace this node's: no settings write of this node is
   * in flight and each one acknowledged is at or below `version`. An older read would undo, in
   * memory, a change the node just made (until the next poll put it back).
   */
  settingsCover(version: number): boolean;
  /** Deletes tombstones older than `retentionMs` (database time); returns how many. */
  purgeTombstones(retentionMs: number): Promise<number>;
  /** The pool, for the cluster tables (membership, leases) on the same database. */
  readonly db: MysqlDb;
}

const KV = { checker: 'vigil_checker_configs', whitelist: 'vigil_whitelist', switches: 'vigil_switches' } as const;

/**
 * All settings and their version in one statement: one statement reads one snapshot whatever the
 * isolation level, so the version names exactly the writes the rows hold.
 */
const SETTINGS = `SELECT 'v' AS t, '' AS k, CAST(version AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin AS value FROM vigil_settings_version WHERE id = 1
  UNION ALL SELECT 'c', k, value FROM ${KV.checker}
  UNION ALL SELECT 'w', k, value FROM ${KV.whitelist}
  UNION ALL SELECT 's', k, value FROM ${KV.switches}
  ORDER BY t, k`;

async function readSettings(sql: Sql): Promise<VersionedSettings> {
  const rows = await sql.rows<{ t: string; k: string; value: string }>(SETTINGS);
  const of = (t: string) => rows.filter((r) => r.t === t).map((r) => ({ key: r.k, value: JSON.parse(r.value) as unknown }));
  return {
    version: Number(rows.find((r) => r.t === 'v')?.value ?? 0),
    checkerConfigs: of('c').map((r) => ({ key: r.key, ...(r.value as object) }) as Settings['checkerConfigs'][number]),
    whitelist: of('w').map((r) => r.value) as Settings['whitelist'],
    switches: Object.fromEntries(of('s').map((r) => [r.key, r.value])),
  };
}

/**
 * An instance row's `updated_at` strictly increases with every change, even two in one millisecond,
 * so that pollers can order a registration and a deregistration by it alone.
 */
const NEXT_TIME = `GREATEST(${DB_NOW_MS}, updated_at + 1)`;

const HEALTH_UPSERT = `ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), version = VALUES(version),
  decided_by_node = VALUES(decided_by_node), value = VALUES(value), updated_at = VALUES(updated_at)`;

/** Opens the pool and brings the schema up to date (migrate.ts) before anything is read or written. */
export async function openMysqlStore(opts: MysqlOptions): Promise<MysqlStore> {
  const db = openMysql(opts);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return createMysqlStore(db);
}

export function createMysqlStore(db: MysqlDb): MysqlStore {
  // This node's settings writes: how many are in flight, and the highest version one committed.
  let settingsPending = 0;
  let settingsWritten = 0;
  /** One settings change: the version row first (its lock orders the writers), then the row. */
  async function writeSetting(statement: string, values: readonly unknown[]): Promise<void> {
    settingsPending++;
    try {
      const version = await db.transaction(async (tx) => {
        await tx.run(`UPDATE vigil_settings_version SET version = version + 1, updated_at = ${DB_NOW_MS} WHERE id = 1`);
        await tx.run(statement, values);
        const [row] = await tx.rows<{ version: number }>('SELECT version FROM vigil_settings_version WHERE id = 1');
        return row?.version ?? 0;
      });
      settingsWritten = Math.max(settingsWritten, version);
    } finally {
      settingsPending--;
    }
  }
  const putKv = (table: string, k: string, value: unknown) =>
    writeSetting(`INSERT INTO ${table} (k, value, updated_at) VALUES (?, ?, ${DB_NOW_MS}) ON DUPLICATE KEY UPDATE value = VALUES(value), updated_at = VALUES(updated_at)`, [
      k,
      JSON.stringify(value),
    ]);
  const delKv = (table: string, k: string) => writeSetting(`DELETE FROM ${table} WHERE k = ?`, [k]);

  async function liveInstances(keys: readonly string[]): Promise<Set<string>> {
    const live = new Set<string>();
    for (let i = 0; i < keys.length; i += 1000) {
      const rows = await db.rows<{ k: string }>('SELECT ikey AS k FROM vigil_instances WHERE ikey IN (?) AND deleted = 0', [keys.slice(i, i + 1000)]);
      for (const r of rows) live.add(r.k);
    }
    return live;
  }

  async function diagnose(key: string, fence: Fence): Promise<VigilError> {
    const [inst] = await db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM vigil_instances WHERE ikey = ? AND deleted = 0', [key]);
    if (!inst?.n) return new VigilError('VIGIL_ERR_NOT_FOUND', `no persistent instance ${key}`, 'key');
    const [lease] = await db.rows<{ owner: string | null; epoch: number; live: number }>(
      `SELECT owner, epoch, expires_at > ${DB_NOW_MS} AS live FROM vigil_shard_leases WHERE shard = ?`,
      [shardOf(key)],
    );
    const held = lease ? `${lease.owner ?? 'nobody'} at epoch ${lease.epoch}${lease.live ? '' : ' (lapsed)'}` : 'no lease row';
    return new VigilError('VIGIL_ERR_CLUSTER_STALE_EPOCH', `health write for ${key} by ${fence.nodeId} at epoch ${fence.epoch} refused: shard ${shardOf(key)} is held by ${held}`, 'epoch');
  }

  return {
    db,
    // One transaction, so every table is read from the same snapshot.
    load: () => db.transaction(async (tx): Promise<StoreSnapshot> => {
      const rows = await tx.rows<{ k: string; value: string; health: string | null; epoch: number | null; node: string | null }>(
        `SELECT i.ikey AS k, i.value, h.value AS health, h.epoch, h.decided_by_node AS node
         FROM vigil_instances i LEFT JOIN vigil_health h ON h.ikey = i.ikey WHERE i.deleted = 0 ORDER BY i.ikey`,
      );
      // The stamp comes along, so a node that starts knows which node decided each record and orders it against peers' copies.
      const instances = rows.map((r) => ({
        key: r.k,
        instance: JSON.parse(r.value) as Instance,
        ...(r.health === null ? {} : { health: JSON.parse(r.health) as StoredHealth }),
        ...(r.epoch ? { epoch: r.epoch } : {}),
        ...(r.node === null ? {} : { decidedByNode: r.node }),
      }));
      const { version: _, ...settings } = await readSettings(tx);
      return { instances, ...settings };
    }),
    async putInstance(key, instance, health) {
      const shard = shardOf(key);
      await db.transaction(async (tx) => {
        await tx.run(
          `INSERT INTO vigil_instances (ikey, shard, value, deleted, updated_at) VALUES (?, ?, ?, 0, ${DB_NOW_MS})
           ON DUPLICATE KEY UPDATE value = VALUES(value), deleted = 0, updated_at = ${NEXT_TIME}`,
          [key, shard, JSON.stringify(instance)],
        );
        // Only a new instance takes the given health; an existing record is its decider's (async-store.ts).
        await tx.run(
          `INSERT INTO vigil_health (ikey, shard, epoch, version, decided_by_node, value, updated_at)
           VALUES (?, ?, 0, ?, NULL, ?, ${DB_NOW_MS}) ON DUPLICATE KEY UPDATE ikey = ikey`,
          [key, shard, health.health.version, JSON.stringify(health)],
        );
      });
    },
    async putHealth(key, health) {
      await db.run(
        `INSERT INTO vigil_health (ikey, shard, epoch, version, decided_by_node, value, updated_at)
         VALUES (?, ?, 0, ?, NULL, ?, ${DB_NOW_MS}) ${HEALTH_UPSERT}`,
        [key, shardOf(key), health.health.version, JSON.stringify(health)],
      );
    },
    async putFencedHealth(key, health, fence) {
      const written = await db.run(
        `INSERT INTO vigil_health (ikey, shard, epoch, version, decided_by_node, value, updated_at)
         SELECT i.ikey, l.shard, l.epoch, ?, l.owner, ?, ${DB_NOW_MS}
         FROM vigil_shard_leases l JOIN vigil_instances i ON i.ikey = ? AND i.deleted = 0
         WHERE l.shard = ? AND l.owner = ? AND l.epoch = ? AND l.expires_at > ${DB_NOW_MS}
         ${HEALTH_UPSERT}`,
        [health.health.version, JSON.stringify(health), key, shardOf(key), fence.nodeId, fence.epoch],
      );
      if (written === 0) throw await diagnose(key, fence);
    },
    async putFencedHealthBatch(nodeId, writes) {
      if (writes.length === 0) return [];
      // Within a batch only the newest copy of a key is written; the others were overtaken.
      const newest = new Map<string, FencedWrite>();
      for (const w of writes) {
        const held = newest.get(w.key);
        if (!held || compareStamps({ epoch: w.epoch, version: w.health.health.version }, { epoch: held.epoch, version: held.health.health.version }) > 0) newest.set(w.key, w);
      }
      const batch = [...newest.values()];
      // One statement: the lease, instance and health rows are locked only while it runs, so the
      // node's own lease renewal never queues behind a batch (it did behind a transaction of six
      // round trips, and timed out). The fence, the instance and the stamp are all checked in it.
      await db.run(
        `INSERT INTO vigil_health (ikey, shard, epoch, version, decided_by_node, value, updated_at)
         SELECT i.ikey, l.shard, w.epoch, w.version, l.owner, w.value, ${DB_NOW_MS}
         FROM JSON_TABLE(?, '$[*]' COLUMNS (k VARCHAR(512) CHARACTER SET utf8mb4 PATH '$.k', epoch BIGINT PATH '$.e', version BIGINT PATH '$.v', value MEDIUMTEXT CHARACTER SET utf8mb4 PATH '$.h')) w
         JOIN vigil_instances i ON i.ikey = w.k COLLATE utf8mb4_bin AND i.deleted = 0
         JOIN vigil_shard_leases l ON l.shard = i.shard AND l.owner = ? AND l.epoch = w.epoch AND l.expires_at > ${DB_NOW_MS}
         LEFT JOIN vigil_health h ON h.ikey = i.ikey
         WHERE h.ikey IS NULL OR h.epoch < w.epoch OR (h.epoch = w.epoch AND h.version < w.version)
         ${HEALTH_UPSERT}`,
        [JSON.stringify(batch.map((w) => ({ k: w.key, e: w.epoch, v: w.health.health.version, h: JSON.stringify(w.health) }))), nodeId],
      );
      // What became of each write: read back (a later write may already have overtaken one of ours,
      // which then counts as superseded, which it is).
      const keys = batch.map((w) => w.key);
      const rows = new Map(
        (await db.rows<{ k: string; epoch: number; version: number; node: string | null }>(
          'SELECT ikey AS k, epoch, version, decided_by_node AS node FROM vigil_health WHERE ikey IN (?)',
          [keys],
        )).map((r) => [r.k, r]),
      );
      const landed = (w: FencedWrite) => {
        const r = rows.get(w.key);
        return r !== undefined && r.epoch === w.epoch && r.version === w.health.health.version && r.node === nodeId;
      };
      const lost = batch.filter((w) => !landed(w));
      let held = new Map<number, number>();
      let live = new Set<string>();
      if (lost.length > 0) {
        const leases = await db.rows<{ shard: number; epoch: number }>(
          `SELECT shard, epoch FROM vigil_shard_leases WHERE shard IN (?) AND owner = ? AND expires_at > ${DB_NOW_MS}`,
          [[...new Set(lost.map((w) => shardOf(w.key)))], nodeId],
        );
        held = new Map(leases.map((l) => [l.shard, l.epoch]));
        live = await liveInstances(lost.map((w) => w.key));
      }
      return writes.map((w): FencedOutcome => {
        if (newest.get(w.key) !== w) return 'superseded';
        if (landed(w)) return 'written';
        if (held.get(shardOf(w.key)) !== w.epoch) return 'stale';
        return live.has(w.key) ? 'superseded' : 'missing';
      });
    },
    putOperatorHealth: (key, nodeId, decide) =>
      db.transaction(async (tx): Promise<HealthRow> => {
        // Lease row first, then the instance and health rows: the order every writer takes them in.
        const [lease] = await tx.rows<{ epoch: number }>('SELECT epoch FROM vigil_shard_leases WHERE shard = ? LOCK IN SHARE MODE', [shardOf(key)]);
        const [row] = await tx.rows<{ value: string; epoch: number; node: string | null; updatedAt: number }>(
          `SELECT h.value, h.epoch, h.decided_by_node AS node, h.updated_at AS updatedAt
           FROM vigil_instances i JOIN vigil_health h ON h.ikey = i.ikey WHERE i.ikey = ? AND i.deleted = 0 FOR UPDATE`,
          [key],
        );
        if (!row) throw new VigilError('VIGIL_ERR_NOT_FOUND', `no persistent instance ${key}`, 'key');
        const current = JSON.parse(row.value) as StoredHealth;
        const next = decide(current);
        if (next.health.version <= current.health.version) return { key, health: current, epoch: row.epoch, decidedByNode: row.node, updatedAt: row.updatedAt };
        const epoch = Math.max(lease?.epoch ?? 0, row.epoch);
        await tx.run(`UPDATE vigil_health SET epoch = ?, version = ?, decided_by_node = ?, value = ?, updated_at = ${DB_NOW_MS} WHERE ikey = ?`, [
          epoch,
          next.health.version,
          nodeId,
          JSON.stringify(next),
          key,
        ]);
        return { key, health: next, epoch, decidedByNode: nodeId, updatedAt: row.updatedAt };
      }),
    async deleteInstance(key) {
      await db.transaction(async (tx) => {
        await tx.run(`UPDATE vigil_instances SET value = NULL, deleted = 1, updated_at = ${NEXT_TIME} WHERE ikey = ? AND deleted = 0`, [key]);
        await tx.run('DELETE FROM vigil_health WHERE ikey = ?', [key]);
      });
    },
    async changesSince(dbTime, isHeld) {
      const [clock] = await db.rows<{ now: number; settings: number | null }>(
        `SELECT ${DB_NOW_MS} AS now, (SELECT version FROM vigil_settings_version WHERE id = 1) AS settings`,
      );
      const inst = await db.rows<{ k: string; value: string | null; updatedAt: number }>(
        'SELECT ikey AS k, value, updated_at AS updatedAt FROM vigil_instances WHERE updated_at >= ? ORDER BY updated_at, ikey',
        [dbTime],
      );
      const rows = await db.rows<{ k: string; value: string; epoch: number; version: number; node: string | null; updatedAt: number }>(
        'SELECT ikey AS k, value, epoch, version, decided_by_node AS node, updated_at AS updatedAt FROM vigil_health WHERE updated_at >= ? ORDER BY updated_at, ikey',
        [dbTime],
      );
      // A busy window holds thousands of rows the caller already applied: skip them before parsing.
      const health = isHeld ? rows.filter((r) => !isHeld(r.k, { epoch: r.epoch, version: r.version })) : rows;
      return {
        now: clock?.now ?? 0,
        settingsVersion: clock?.settings ?? 0,
        instances: inst.map((r) => ({ key: r.k, instance: r.value === null ? null : (JSON.parse(r.value) as Instance), updatedAt: r.updatedAt })),
        health: health.map((r) => ({ key: r.k, health: JSON.parse(r.value) as StoredHealth, epoch: r.epoch, decidedByNode: r.node, updatedAt: r.updatedAt })),
      };
    },
    liveInstances,
    settings: () => readSettings(db),
    settingsCover: (version) => settingsPending === 0 && settingsWritten <= version,
    purgeTombstones: (retentionMs) => db.run(`DELETE FROM vigil_instances WHERE deleted = 1 AND updated_at < ${DB_NOW_MS} - ?`, [retentionMs]),
    putCheckerConfig: (key, value) => putKv(KV.checker, key, value),
    deleteCheckerConfig: (key) => delKv(KV.checker, key),
    putWhitelist: (entry) => putKv(KV.whitelist, entry.id, entry),
    deleteWhitelist: (id) => delKv(KV.whitelist, id),
    putSwitch: (name, value) => putKv(KV.switches, name, value),
    close: () => db.close(),
  };
}
