/**
 * The MySQL/MariaDB connection behind the shared store and the cluster tables: a small pool from a
 * `mysql://user:pass@host:port/db` URL, every query with an explicit timeout (mysql2 has none by
 * default, and a store that hangs must become a refused write, not a stuck daemon).
 *
 * Time in these tables is the database's: `DB_NOW_MS` is the server's clock in epoch milliseconds,
 * so no node ever compares its own clock with another's.
 */
import { createPool, type Pool, type PoolConnection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { VigilError } from '../../errors.js';

/** The database server's current time, epoch ms. The session runs in UTC (see `open`), so no DST fold. */
export const DB_NOW_MS = 'CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED)';

export interface MysqlOptions {
  readonly url: string;
  /** Connections kept by this node; a node needs few (heartbeat, leases, writes, polls). */
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
  readonly queryTimeoutMs?: number;
}

export type Values = readonly unknown[];

/** What runs SQL: the pool, or one connection inside `transaction`. */
export interface Sql {
  rows<T>(sql: string, values?: Values): Promise<T[]>;
  /** INSERT / UPDATE / DELETE: the number of rows matched (the pool reports found rows). */
  run(sql: string, values?: Values): Promise<number>;
}

export interface MysqlDb extends Sql {
  /** Runs `fn` on one connection inside BEGIN … COMMIT (ROLLBACK when it throws). */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /** Runs `fn` on one dedicated connection (session state such as GET_LOCK stays with it). */
  withConnection<T>(fn: (conn: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function parseMysqlUrl(url: string): { host: string; port: number; user: string; password: string; database: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', 'store.url is not a URL (mysql://user:pass@host:port/db)', 'store.url');
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol !== 'mysql:' || !u.hostname || !database || database.includes('/')) {
    throw new VigilError('VIGIL_ERR_CONFIG_INVALID', 'store.url must look like mysql://user:pass@host:port/db', 'store.url');
  }
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
  };
}

/**
 * Every failure of the database (unreachable, timed out, refused) becomes one stable code, which
 * the API answers with 503. The message names the driver's code, never the values (they may hold
 * secrets). A timed-out statement may still run once the server answers again: a 503 means "not
 * known to be written", and every write here is an idempotent upsert, so a retry is safe.
 */
export function storeError(err: unknown): VigilError {
  if (err instanceof VigilError) return err;
  const e = err as { code?: string; message?: string };
  return new VigilError('VIGIL_ERR_STORE', `the MySQL store failed: ${e.code ?? 'error'}: ${e.message ?? String(err)}`, undefined, { cause: err });
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storeError(err);
  }
}

function wrap(conn: Pick<Pool, 'query'>, timeout: number): Sql {
  return {
    rows: <T>(sql: string, values?: Values) =>
      guarded(async () => {
        const [rows] = await conn.query<RowDataPacket[]>({ sql, values: values as unknown[] | undefined, timeout });
        return rows as T[];
      }),
    run: (sql, values) =>
      guarded(async () => {
        const [res] = await conn.query<ResultSetHeader>({ sql, values: values as unknown[] | undefined, timeout });
        return res.affectedRows;
      }),
  };
}

export function openMysql(opts: MysqlOptions): MysqlDb {
  const target = parseMysqlUrl(opts.url);
  const queryTimeoutMs = opts.queryTimeoutMs ?? 2000;
  const pool = createPool({
    ...target,
    connectionLimit: opts.poolSize ?? 4,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    enableKeepAlive: true,
    // Numbers, not strings, for BIGINT milliseconds (all well inside 2^53).
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  // Every session in UTC: DB_NOW_MS must not depend on the server's zone or its DST changes.
  pool.pool.on('connection', (c) => c.query("SET time_zone = '+00:00'"));
  const sql = wrap(pool, queryTimeoutMs);

  async function onConnection<T>(fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await guarded(() => pool.getConnection());
    try {
      return await fn(conn);
    } catch (err) {
      // A connection that timed out may still have a statement running: never hand it out again.
      conn.destroy();
      throw err;
    } finally {
      conn.release();
    }
  }

  return {
    ...sql,
    withConnection: (fn) => onConnection((conn) => fn(wrap(conn, queryTimeoutMs))),
    transaction: (fn) =>
      onConnection(async (conn) => {
        await guarded(() => conn.beginTransaction());
        try {
          const out = await fn(wrap(conn, queryTimeoutMs));
          await guarded(() => conn.commit());
          return out;
        } catch (err) {
          await conn.rollback().catch(() => undefined);
          throw err;
        }
      }),
    close: () => pool.end(),
  };
}
