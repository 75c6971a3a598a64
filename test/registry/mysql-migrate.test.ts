import { afterAll, beforeAll, expect, it } from 'vitest';
import { isVigilError } from '../../src/errors.js';
import { openMysql, parseMysqlUrl, type MysqlDb } from '../../src/registry/mysql/db.js';
import { migrate } from '../../src/registry/mysql/migrate.js';
import { LATEST_VERSION, MIGRATIONS } from '../../src/registry/mysql/migrations.js';
import { SHARD_COUNT } from '../../src/cluster/shards.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';

describeMariaDb('MySQL store schema migrations', () => {
  let server: MariaDb;
  const open: MysqlDb[] = [];
  const connect = (url: string) => {
    const db = openMysql({ url });
    open.push(db);
    return db;
  };

  beforeAll(async () => {
    server = await startMariaDb();
  });
  afterAll(async () => {
    await Promise.all(open.map((db) => db.close()));
    await server?.stop();
  });

  it('creates every table on an empty database and records each step once', async () => {
    const db = connect(await freshDatabase(server));
    const result = await migrate(db);
    expect(result).toEqual({ applied: MIGRATIONS.map((m) => m.version), version: LATEST_VERSION });
    const tables = (await db.rows<{ t: string }>('SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()')).map((r) => r.t).sort();
    expect(tables).toEqual(['vigil_checker_configs', 'vigil_cluster', 'vigil_health', 'vigil_instances', 'vigil_members', 'vigil_schema', 'vigil_settings_version', 'vigil_shard_leases', 'vigil_switches', 'vigil_whitelist']);
    const [leases] = await db.rows<{ n: number; owned: number }>('SELECT COUNT(*) AS n, COUNT(owner) AS owned FROM vigil_shard_leases');
    expect(leases).toEqual({ n: SHARD_COUNT, owned: 0 });
  });

  it('does nothing the second time', async () => {
    const db = connect(await freshDatabase(server));
    await migrate(db);
    expect(await migrate(db)).toEqual({ applied: [], version: LATEST_VERSION });
  });

  it('lets five nodes start at once: one migrates, the others wait, the schema is whole', async () => {
    const url = await freshDatabase(server);
    const nodes = Array.from({ length: 5 }, () => connect(url));
    const results = await Promise.all(nodes.map((db) => migrate(db)));
    // Exactly one node applied the steps; every node ends on the latest version.
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
    expect(results.every((r) => r.version === LATEST_VERSION)).toBe(true);
    const rows = await nodes[0]!.rows<{ version: number }>('SELECT version FROM vigil_schema ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    const [leases] = await nodes[0]!.rows<{ n: number }>('SELECT COUNT(*) AS n FROM vigil_shard_leases');
    expect(leases?.n).toBe(SHARD_COUNT);
  });

  it('completes a step that a node died in the middle of (the statements are re-runnable)', async () => {
    const db = connect(await freshDatabase(server));
    const [first] = MIGRATIONS;
    // A node ran step 1's first statement, then died before recording the step.
    await db.run(first!.statements[0]!);
    expect(await migrate(db)).toEqual({ applied: MIGRATIONS.map((m) => m.version), version: LATEST_VERSION });
  });

  it('refuses a database whose schema is newer than this node, and changes nothing', async () => {
    const db = connect(await freshDatabase(server));
    await migrate(db);
    await db.run("INSERT INTO vigil_schema (version, name, applied_at) VALUES (999, 'from the future', 0)");
    const err = await migrate(db).catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_STORE_SCHEMA')).toBe(true);
    expect((err as Error).message).toContain('999');
  });

  it('gives up with a stable code when another node holds the schema lock too long', async () => {
    const url = await freshDatabase(server);
    const holder = connect(url);
    const waiting = connect(url);
    await holder.withConnection(async (conn) => {
      await conn.rows("SELECT GET_LOCK('vigil.schema', 0)");
      const err = await migrate(waiting, { lockTimeoutMs: 1000 }).catch((e: unknown) => e);
      expect(isVigilError(err, 'VIGIL_ERR_STORE_SCHEMA')).toBe(true);
      await conn.rows("SELECT RELEASE_LOCK('vigil.schema')");
    });
    const tables = await waiting.rows('SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE()');
    expect(tables).toEqual([]);
  });
});

it('parses a mysql:// URL, decoding user, password and database', () => {
  expect(parseMysqlUrl('mysql://u%40x:p%3Aw@127.0.0.1:3307/vig%20il')).toEqual({ host: '127.0.0.1', port: 3307, user: 'u@x', password: 'p:w', database: 'vig il' });
  expect(parseMysqlUrl('mysql://u:p@[::1]/db')).toMatchObject({ host: '::1', port: 3306 });
});

it.each(['not a url', 'postgres://u:p@h/db', 'mysql://u:p@h', 'mysql://u:p@h/a/b'])('refuses the store URL %j naming store.url', (url) => {
  let err: unknown;
  try {
    parseMysqlUrl(url);
  } catch (e) {
    err = e;
  }
  expect(isVigilError(err, 'VIGIL_ERR_CONFIG_INVALID')).toBe(true);
  expect((err as { field?: string }).field).toBe('store.url');
});
