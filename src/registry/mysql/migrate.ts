/**
 * Brings the shared schema up to date at start-up. Several nodes start at once, so two guards:
 * a server-side named lock (GET_LOCK) makes one node migrate while the others wait, and the
 * primary key of `vigil_schema.version` makes recording a step twice impossible should the lock
 * ever be lost (its connection dropped mid-way). A database already newer than this code is refused:
 * an old node must not run against tables it does not understand.
 */
import { VigilError } from '../../errors.js';
import type { MysqlDb, Sql } from './db.js';
import { DB_NOW_MS } from './db.js';
import { MIGRATIONS, type Migration } from './migrations.js';

const LOCK = 'vigil.schema';

export interface MigrateOptions {
  /** How long to wait for another node's migration; default 30 s. */
  readonly lockTimeoutMs?: number;
  readonly migrations?: readonly Migration[];
}

export interface MigrateResult {
  readonly applied: readonly number[];
  readonly version: number;
}

export async function migrate(db: MysqlDb, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const steps = [...(opts.migrations ?? MIGRATIONS)].sort((a, b) => a.version - b.version);
  const latest = steps.reduce((v, m) => Math.max(v, m.version), 0);
  const waitS = Math.max(1, Math.ceil((opts.lockTimeoutMs ?? 30_000) / 1000));
  return db.withConnection(async (conn) => {
    const [lock] = await conn.rows<{ got: number | null }>('SELECT GET_LOCK(?, ?) AS got', [LOCK, waitS]);
    if (lock?.got !== 1) {
      throw new VigilError('VIGIL_ERR_STORE_SCHEMA', `another node held the schema lock for more than ${waitS} s`, 'store.url');
    }
    try {
      return await applyMissing(conn, steps, latest);
    } finally {
      await conn.rows('SELECT RELEASE_LOCK(?)', [LOCK]).catch(() => undefined);
    }
  });
}

async function applyMissing(conn: Sql, steps: readonly Migration[], latest: number): Promise<MigrateResult> {
  await conn.run(`CREATE TABLE IF NOT EXISTS vigil_schema (
    version INT NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    applied_at BIGINT NOT NULL
  ) ENGINE=InnoDB`);
  const done = new Set((await conn.rows<{ version: number }>('SELECT version FROM vigil_schema')).map((r) => r.version));
  const newest = Math.max(0, ...done);
  if (newest > latest) {
    throw new VigilError('VIGIL_ERR_STORE_SCHEMA', `the database schema is version ${newest}, newer than this vigil understands (${latest}); upgrade this node`, 'store.url');
  }
  const applied: number[] = [];
  for (const step of steps) {
    if (done.has(step.version)) continue;
    for (const statement of step.statements) await conn.run(statement);
    await conn.run(`INSERT INTO vigil_schema (version, name, applied_at) VALUES (?, ?, ${DB_NOW_MS})`, [step.version, step.name]);
    applied.push(step.version);
  }
  return { applied, version: Math.max(newest, ...applied) };
}
