/**
 * Private MariaDB servers for tests: each instance is a real `mariadbd` on a free loopback port with
 * its own data directory, copied from a template that `mariadb-install-db` initialises once (cached
 * in the temp dir, keyed by server version and set-up). The template holds `root` without a password
 * (from localhost and 127.0.0.1) and `vigil`@`%` with password `s3cret` and no privileges, which is
 * all a health check needs.
 *
 *   const db = await startMariaDb();           // { host, port, datadir, query, setReadOnly, … }
 *   await db.kill(); await db.restart();       // SIGKILL, then the same port and data again
 *   await db.stop();                           // in afterAll: process gone, directory removed
 *
 * Replication: start the primary with `{ binlog: true }`, then `startReplicaOf(primary)`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createConnection, type Connection, type ConnectionOptions } from 'mysql2';
import { describe } from 'vitest';
import { inCI } from './ci.js';

export const TEST_USER = { user: 'vigil', password: 's3cret' } as const;

export interface MariaDbOptions {
  /** Extra `mariadbd` arguments, appended after the defaults (so they win). */
  readonly args?: readonly string[];
  /** Write a binary log with a unique server id, so replicas can follow this server. */
  readonly binlog?: boolean;
  /** Milliseconds to wait for the server to accept connections; default 30000. */
  readonly readyTimeoutMs?: number;
}

export interface MariaDb {
  readonly host: string;
  readonly port: number;
  /** The instance's temp directory (data, socket, error log); removed by `stop()`. */
  readonly dir: string;
  readonly datadir: string;
  readonly running: boolean;
  /** Runs SQL as root over the unix socket on one kept admin connection (several statements allowed). */
  query<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  /** A `SHOW GLOBAL STATUS` counter, e.g. `Threads_connected` (the admin connection counts). */
  status(name: string): Promise<number>;
  /** `SET GLOBAL read_only`: a replica as far as a health check can tell. */
  setReadOnly(on: boolean): Promise<void>;
  /** SIGSTOP, resolved once the kernel reports the process stopped: it hangs as in a long stall. */
  pause(): Promise<void>;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** SIGKILL, and wait for the process to exit. */
  kill(): Promise<void>;
  /** Graceful SIGTERM shutdown, keeping the data directory. */
  shutdown(): Promise<void>;
  /** Starts again on the same port and data directory (shuts down first if running). */
  restart(): Promise<void>;
  /** Teardown: ends the process and removes the temp directory. Safe to call twice. */
  stop(): Promise<void>;
}

const BASE_ARGS = [
  '--no-defaults',
  '--skip-name-resolve',
  '--skip-performance-schema',
  '--innodb-buffer-pool-size=32M',
  '--innodb-log-file-size=8M',
  // Survives a process kill (the OS still flushes), which is what tests do; much faster.
  '--innodb-flush-log-at-trx-commit=2',
];

const SEARCH_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin', '/usr/local/mysql/scripts'];

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...SEARCH_DIRS].filter(Boolean);
  for (const dir of dirs) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

function binaries(): { server: string; installDb: string } | undefined {
  const server = findBinary('mariadbd');
  const installDb = findBinary('mariadb-install-db');
  return server && installDb ? { server, installDb } : undefined;
}

export function mariadbAvailable(): boolean {
  return binaries() !== undefined;
}

/**
 * `describe` for tests that need MariaDB. Without `mariadbd` the block is skipped with a hint, but
 * under `CI=true` the file fails: CI must not pass by skipping the database tests.
 */
export function describeMariaDb(name: string, fn: () => void): void {
  if (mariadbAvailable()) {
    describe(name, fn);
    return;
  }
  const why = 'mariadbd / mariadb-install-db not found on PATH or in /usr/sbin';
  if (inCI()) throw new Error(`${name}: ${why}; CI=true requires the MariaDB tests to run (apt-get install mariadb-server)`);
  console.warn(`[mariadb] skipping "${name}": ${why}. Enable with: apt-get install mariadb-server`);
  describe.skip(`${name} (skipped: apt-get install mariadb-server to enable)`, fn);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${file} exited ${code}:\n${out.slice(-2000)}`))));
  });
}

// Bootstrap runs without grant tables; FLUSH PRIVILEGES loads them so CREATE USER works.
const SETUP_SQL = `
FLUSH PRIVILEGES;
CREATE USER '${TEST_USER.user}'@'%' IDENTIFIED BY '${TEST_USER.password}';
`;

let template: Promise<string> | undefined;

/**
 * The initialised data directory every instance copies. Made once and kept in the temp dir under a
 * name that hashes the server version and set-up, so later test processes reuse it (vitest ends its
 * workers with SIGTERM, so a per-process template could never be cleaned up).
 */
function templateDatadir(): Promise<string> {
  template ??= (async () => {
    const bins = binaries();
    if (!bins) throw new Error('mariadbd not found (apt-get install mariadb-server)');
    const version = execFileSync(bins.server, ['--version'], { encoding: 'utf8' });
    const hash = createHash('sha256').update([version, ...BASE_ARGS, SETUP_SQL].join('\n')).digest('hex').slice(0, 12);
    const final = join(tmpdir(), `vigil-mariadb-template-${hash}`);
    if (existsSync(join(final, 'ready'))) return join(final, 'data');
    const dir = await mkdtemp(join(tmpdir(), 'vigil-mariadb-template-tmp-'));
    try {
      await writeFile(join(dir, 'setup.sql'), SETUP_SQL);
      await run(bins.installDb, [
        '--no-defaults',
        `--datadir=${join(dir, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        `--extra-file=${join(dir, 'setup.sql')}`,
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
        ...BASE_ARGS.slice(1),
      ]);
      await writeFile(join(dir, 'ready'), version);
      // Atomic publish; when a parallel process won the race, use its copy.
      await rename(dir, final).catch(() => rm(dir, { recursive: true, force: true }));
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return join(final, 'data');
  })();
  template.catch(() => (template = undefined));
  return template;
}

/** Every server this process started, so none outlives a worker that is terminated mid-test. */
const live = new Set<ChildProcess>();
function onTerminate(): void {
  for (const child of live) child.kill('SIGKILL');
  process.kill(process.pid, 'SIGTERM'); // the listener is gone: terminate as before
}
function track(child: ChildProcess): void {
  if (live.size === 0) process.once('SIGTERM', onTerminate);
  live.add(child);
}
function untrack(child: ChildProcess): void {
  if (live.delete(child) && live.size === 0) process.removeListener('SIGTERM', onTerminate);
}

function connect(options: ConnectionOptions): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(options);
    conn.on('error', () => undefined); // a later error on this connection is seen by its queries
    conn.once('connect', () => resolve(conn));
    conn.once('error', reject);
  });
}

function sql<T>(conn: Connection, text: string, values?: unknown[]): Promise<T> {
  return new Promise((resolve, reject) => {
    conn.query({ sql: text, values, timeout: 30_000 }, (err, rows) => (err ? reject(err) : resolve(rows as T)));
  });
}

export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDb> {
  const bins = binaries();
  if (!bins) throw new Error('mariadbd not found (apt-get install mariadb-server)');
  const source = await templateDatadir();
  const dir = await mkdtemp(join(tmpdir(), 'vigil-mariadb-'));
  const datadir = join(dir, 'data');
  await cp(source, datadir, { recursive: true });
  const port = await freePort();
  const socket = join(dir, 'sock');
  const errorLog = join(dir, 'error.log');
  const args = [
    ...BASE_ARGS,
    `--datadir=${datadir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${socket}`,
    `--pid-file=${join(dir, 'mariadbd.pid')}`,
    `--log-error=${errorLog}`,
    `--tmpdir=${dir}`,
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ...(opts.binlog ? [`--log-bin=${join(dir, 'binlog')}`, `--server-id=${port}`] : ['--skip-log-bin']),
    ...(opts.args ?? []),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  let admin: Promise<Connection> | undefined;
  let removed = false;

  const dropAdmin = () => {
    const a = admin;
    admin = undefined;
    void a?.then((c) => c.destroy(), () => undefined);
  };

  async function launch(): Promise<void> {
    const proc = spawn(bins!.server, args, { stdio: 'ignore' });
    child = proc;
    track(proc);
    exited = once(proc, 'exit').finally(() => {
      untrack(proc);
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
    for (;;) {
      if (child !== proc) {
        const log = await readFile(errorLog, 'utf8').catch(() => '');
        throw new Error(`mariadbd exited during start-up:\n${log.slice(-3000)}`);
      }
      try {
        const c = await connect({ host: '127.0.0.1', port, user: 'root', connectTimeout: 1000 });
        c.destroy();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`mariadbd on port ${port} not ready: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async function end(signal: NodeJS.Signals): Promise<void> {
    dropAdmin();
    const proc = child;
    if (!proc) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  const db: MariaDb = {
    host: '127.0.0.1',
    port,
    dir,
    datadir,
    get running() {
      return child !== undefined;
    },
    async query<T>(text: string, values?: unknown[]): Promise<T> {
      admin ??= connect({ socketPath: socket, user: 'root', multipleStatements: true, connectTimeout: 5000 });
      const conn = await admin.catch((err: unknown) => {
        admin = undefined;
        throw err;
      });
      try {
        return await sql<T>(conn, text, values);
      } catch (err) {
        if ((err as { fatal?: unknown }).fatal) dropAdmin();
        throw err;
      }
    },
    async status(name) {
      const rows = await db.query<{ Value: string }[]>('SHOW GLOBAL STATUS LIKE ?', [name]);
      const value = rows[0]?.Value;
      if (value === undefined) throw new Error(`no status variable ${name}`);
      return Number(value);
    },
    async setReadOnly(on) {
      await db.query(`SET GLOBAL read_only = ${on ? 1 : 0}`);
    },
    async pause() {
      const pid = child?.pid;
      if (pid === undefined) return;
      child?.kill('SIGSTOP');
      // The signal is delivered asynchronously: a query sent at once could still be answered.
      for (let i = 0; i < 200; i++) {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
        if (/^\d+ \(.*\) T /.test(stat)) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    resume() {
      child?.kill('SIGCONT');
    },
    kill: () => end('SIGKILL'),
    shutdown: () => end('SIGTERM'),
    async restart() {
      if (removed) throw new Error('restart() after stop()');
      await end('SIGTERM');
      await launch();
    },
    async stop() {
      removed = true;
      await end('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    await launch();
  } catch (err) {
    await db.stop();
    throw err;
  }
  return db;
}

/**
 * Starts a read-only server that replicates `primary` (started with `{ binlog: true }`) through
 * `CHANGE MASTER TO … MASTER_USE_GTID=slave_pos`, and waits until both replication threads run.
 */
export async function startReplicaOf(primary: MariaDb, opts: MariaDbOptions = {}): Promise<MariaDb & { sync(): Promise<void> }> {
  const replica = await startMariaDb({ ...opts, args: ['--read-only=1', ...(opts.args ?? [])] });
  try {
    await replica.query(
      `CHANGE MASTER TO MASTER_HOST='${primary.host}', MASTER_PORT=${primary.port}, MASTER_USER='root', ` +
        `MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE`,
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [s] = await replica.query<Record<string, unknown>[]>('SHOW SLAVE STATUS');
      if (s?.Slave_IO_Running === 'Yes' && s.Slave_SQL_Running === 'Yes') break;
      if (Date.now() > deadline) throw new Error(`replication did not start: ${String(s?.Last_IO_Error ?? s?.Last_SQL_Error ?? '')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await replica.stop();
    throw err;
  }
  return Object.assign(replica, {
    /** Waits until the replica has applied everything the primary has written so far. */
    async sync() {
      const [row] = await primary.query<{ pos: string }[]>('SELECT @@global.gtid_binlog_pos AS pos');
      const [done] = await replica.query<{ ok: number }[]>('SELECT MASTER_GTID_WAIT(?, 30) AS ok', [row?.pos ?? '']);
      if (done?.ok !== 0) throw new Error('replica did not catch up within 30 s');
    },
  });
}

/** For tests that need a scratch directory next to the servers (e.g. a password file). */
export async function tempDir(prefix = 'vigil-scratch-'): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
