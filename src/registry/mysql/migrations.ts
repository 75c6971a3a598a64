/**
 * The shared schema, as numbered steps applied in order and recorded in `vigil_schema`. Never edit
 * a step that has shipped: add the next one. MySQL commits each DDL statement on its own, so a
 * step is written to be re-runnable (IF NOT EXISTS, INSERT IGNORE): a node that dies half-way
 * through leaves a state the next attempt completes.
 *
 * Keys are `utf8mb4_bin`: instance keys are case-sensitive (`Svc` and `svc` are two services), and
 * the default collations would fold them together. Times are BIGINT epoch milliseconds of the
 * database's clock (DB_NOW_MS), never a node's.
 */
import { SHARD_COUNT } from '../../cluster/shards.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

const TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

const keyValue = (name: string) => `CREATE TABLE IF NOT EXISTS ${name} (
  k VARCHAR(512) NOT NULL PRIMARY KEY,
  value MEDIUMTEXT NOT NULL,
  updated_at BIGINT NOT NULL
) ${TABLE}`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'registry tables',
    statements: [
      // Deregistration leaves a tombstone (deleted = 1) so that nodes polling recent changes see it.
      `CREATE TABLE IF NOT EXISTS vigil_instances (
        ikey VARCHAR(512) NOT NULL PRIMARY KEY,
        shard SMALLINT UNSIGNED NOT NULL,
        value MEDIUMTEXT NULL,
        deleted TINYINT NOT NULL DEFAULT 0,
        updated_at BIGINT NOT NULL,
        KEY by_updated (updated_at)
      ) ${TABLE}`,
      // epoch: the shard lease the record was written under; version: the record's own counter.
      `CREATE TABLE IF NOT EXISTS vigil_health (
        ikey VARCHAR(512) NOT NULL PRIMARY KEY,
        shard SMALLINT UNSIGNED NOT NULL,
        epoch BIGINT NOT NULL,
        version BIGINT NOT NULL,
        decided_by_node VARCHAR(64) NULL,
        value MEDIUMTEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        KEY by_updated (updated_at)
      ) ${TABLE}`,
      keyValue('vigil_checker_configs'),
      keyValue('vigil_whitelist'),
      keyValue('vigil_switches'),
    ],
  },
  {
    version: 2,
    name: 'cluster membership and shard leases',
    statements: [
      // proof: HMAC(cluster secret, node id); members whose proof does not verify are not counted.
      `CREATE TABLE IF NOT EXISTS vigil_members (
        node_id VARCHAR(64) NOT NULL PRIMARY KEY,
        url VARCHAR(512) NOT NULL,
        proof CHAR(64) NOT NULL,
        started_at BIGINT NOT NULL,
        last_seen BIGINT NOT NULL
      ) ${TABLE}`,
      // One row: HMAC(cluster secret, "cluster"), written by the first node to join.
      `CREATE TABLE IF NOT EXISTS vigil_cluster (
        id TINYINT NOT NULL PRIMARY KEY,
        secret_check CHAR(64) NOT NULL,
        created_at BIGINT NOT NULL
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS vigil_shard_leases (
        shard SMALLINT UNSIGNED NOT NULL PRIMARY KEY,
        owner VARCHAR(64) NULL,
        epoch BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      ) ${TABLE}`,
      // One row per shard from the start, so taking a lease is always an UPDATE of an existing row.
      `INSERT IGNORE INTO vigil_shard_leases (shard, owner, epoch, expires_at) VALUES ${Array.from(
        { length: SHARD_COUNT },
        (_, s) => `(${s}, NULL, 0, 0)`,
      ).join(', ')}`,
    ],
  },
  {
    version: 3,
    name: 'settings version',
    statements: [
      // One row, bumped (under its row lock, first) by every write of a checker config, whitelist
      // entry or switch: nodes poll it and re-read the settings when it moved (docs/cluster.md).
      `CREATE TABLE IF NOT EXISTS vigil_settings_version (
        id TINYINT NOT NULL PRIMARY KEY,
        version BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      ) ${TABLE}`,
      'INSERT IGNORE INTO vigil_settings_version (id, version, updated_at) VALUES (1, 0, 0)',
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);
