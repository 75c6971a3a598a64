import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import mysql from '../../checkers/mysql.js';
import { isVigilError } from '../../src/errors.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool, type ResourcePool } from '../../src/health/resources.js';
import { createRunner, type Runner } from '../../src/health/runner.js';
import { describeMariaDb, freePort, startMariaDb, startReplicaOf, tempDir, TEST_USER, type MariaDb } from '../helpers/mariadb.js';

/** A runner and a resource pool as the daemon holds them; the pool is closed when the test ends. */
function daemon(): { runner: Runner; pool: ResourcePool; probe: (server: { host: string; port: number }, raw: object, timeoutMs?: number) => ReturnType<Runner['run']> } {
  const runner = createRunner();
  const pool = createResourcePool();
  onTestFinished(() => pool.closeAll());
  return {
    runner,
    pool,
    probe: (server, raw, timeoutMs = 3000) =>
      runner.run({
        checker: mysql,
        target: { host: server.host, port: server.port, metadata: {} },
        options: parseOptions(mysql, raw),
        timeoutMs,
        resources: pool.scope('mysql'),
      }),
  };
}

describe('mysql checker options', () => {
  it('applies the documented defaults', () => {
    expect(parseOptions(mysql, {})).toEqual({ requirePrimary: true, connectTimeoutMs: 1000 });
  });

  it('rejects an unknown option, naming it', () => {
    let caught: unknown;
    try {
      parseOptions(mysql, { pasword: 'x' });
    } catch (err) {
      caught = err;
    }
    expect(isVigilError(caught, 'VIGIL_ERR_CHECKER_OPTION_INVALID')).toBe(true);
    expect((caught as { field: string }).field).toBe('options.pasword');
  });

  it('rejects more than one password source', () => {
    expect(() => parseOptions(mysql, { password: 'a', passwordEnv: 'B' })).toThrow(/at most one of password/);
  });

  it('rejects expect without a query', () => {
    expect(() => parseOptions(mysql, { expect: '1' })).toThrow(/expect needs a query/);
  });

  it('never shows the password in a schema error', () => {
    expect(() => parseOptions(mysql, { password: 'hunter22', passwordFile: '/x' })).toThrow(/^(?!.*hunter22)/s);
  });

  it('marks the instance down at once when the connection is refused', async () => {
    const { probe } = daemon();
    const result = await probe({ host: '127.0.0.1', port: await freePort() }, {});
    expect(result).toMatchObject({ status: 'fail-now', reason: 'refused' });
  });
});

describe('mysql checker against a server that never greets', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts TCP but never sends the MySQL handshake.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });
  afterAll(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const silent = () => ({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });

  it('fails with timeout after connectTimeoutMs and closes its socket', async () => {
    const { probe } = daemon();
    const result = await probe(silent(), { connectTimeoutMs: 200 }, 1000);
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
    expect(result.latencyMs).toBeLessThan(1000);
    await vi.waitFor(() => expect(sockets.size).toBe(0));
  });

  it('answers at the runner deadline, settles at once and closes its socket', async () => {
    const { probe, runner } = daemon();
    const result = await probe(silent(), { connectTimeoutMs: 5000 }, 300);
    expect(result).toMatchObject({ status: 'fail', reason: 'timeout' });
    await vi.waitFor(() => expect(runner.stats.overdue).toBe(0), { timeout: 200 });
    await vi.waitFor(() => expect(sockets.size).toBe(0));
  });
});

describeMariaDb('mysql checker against a real MariaDB', () => {
  let db: MariaDb;
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    [db, scratch] = await Promise.all([startMariaDb(), tempDir()]);
  });
  afterAll(async () => {
    await db?.stop();
    await scratch?.remove();
  });
  /** Server sessions of the `vigil` user: counted per user so other tests' closing connections do not blur it. */
  const vigilSessions = () => db.query<{ ID: number }[]>("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'vigil'");

  describe('role', () => {
    it('reports a writable server as ok with role primary', async () => {
      const result = await daemon().probe(db, {});
      expect(result).toMatchObject({ type: 'mysql', status: 'ok', reason: 'primary' });
      // MariaDB has read_only and innodb_read_only but no super_read_only.
      expect(result.facts).toEqual({ role: 'primary', readOnly: false, innodbReadOnly: false });
    });

    it('counts a read-only server as a failing replica when a primary is required', async () => {
      await db.setReadOnly(true);
      onTestFinished(() => db.setReadOnly(false));
      const result = await daemon().probe(db, {});
      expect(result).toMatchObject({ status: 'fail', reason: 'replica', facts: { role: 'replica', readOnly: true } });
    });

    it('reports a read-only server as ok with role replica when requirePrimary is false', async () => {
      await db.setReadOnly(true);
      onTestFinished(() => db.setReadOnly(false));
      const result = await daemon().probe(db, { requirePrimary: false });
      expect(result).toMatchObject({ status: 'ok', reason: 'replica', facts: { role: 'replica', readOnly: true } });
    });

    it('sees a real GTID replica as a replica and its primary as the primary', async () => {
      const primary = await startMariaDb({ binlog: true });
      onTestFinished(() => primary.stop());
      const replica = await startReplicaOf(primary);
      onTestFinished(() => replica.stop());
      const { probe } = daemon();
      expect(await probe(primary, {})).toMatchObject({ status: 'ok', facts: { role: 'primary' } });
      expect(await probe(replica, { requirePrimary: false })).toMatchObject({ status: 'ok', facts: { role: 'replica' } });
    });
  });

  describe('credentials', () => {
    it('marks the instance down at once on a wrong password and never shows the password', async () => {
      const secret = 'Wr0ng-Pa55word';
      const result = await daemon().probe(db, { user: TEST_USER.user, password: secret });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'auth' });
      expect(result.detail).toMatch(/Access denied/);
      expect(JSON.stringify(result)).not.toContain(secret);
    });

    it('never shows a wrong password read from a file', async () => {
      const file = join(scratch.path, 'wrong');
      await writeFile(file, 'Fi1e-Secret-Wrong\n');
      const result = await daemon().probe(db, { user: TEST_USER.user, passwordFile: file });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'auth' });
      expect(JSON.stringify(result)).not.toContain('Fi1e-Secret-Wrong');
    });

    it('authenticates with a password from an environment variable', async () => {
      vi.stubEnv('VIGIL_TEST_MYSQL_PASSWORD', TEST_USER.password);
      onTestFinished(() => void vi.unstubAllEnvs());
      const result = await daemon().probe(db, { user: TEST_USER.user, passwordEnv: 'VIGIL_TEST_MYSQL_PASSWORD' });
      expect(result).toMatchObject({ status: 'ok', reason: 'primary' });
    });

    it('authenticates with a password file, ignoring its trailing newline', async () => {
      const file = join(scratch.path, 'right');
      await writeFile(file, `${TEST_USER.password}\n`);
      const result = await daemon().probe(db, { user: TEST_USER.user, passwordFile: file });
      expect(result).toMatchObject({ status: 'ok', reason: 'primary' });
    });

    it('reads the password file only when it opens a connection', async () => {
      const file = join(scratch.path, 'rotating');
      await writeFile(file, TEST_USER.password);
      const { probe } = daemon();
      const options = { user: TEST_USER.user, passwordFile: file };
      expect(await probe(db, options)).toMatchObject({ status: 'ok' });
      await writeFile(file, 'rotated-but-not-yet-on-the-server');
      expect(await probe(db, options)).toMatchObject({ status: 'ok' });
    });

    it('fails at once with reason secret, naming the variable, when the env var is missing', async () => {
      vi.stubEnv('VIGIL_TEST_MYSQL_MISSING', undefined);
      onTestFinished(() => void vi.unstubAllEnvs());
      const result = await daemon().probe(db, { passwordEnv: 'VIGIL_TEST_MYSQL_MISSING' });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'secret' });
      expect(result.detail).toContain('VIGIL_TEST_MYSQL_MISSING');
    });

    it('fails at once with reason secret, naming the file, when the password file is missing', async () => {
      const file = join(scratch.path, 'absent');
      const result = await daemon().probe(db, { passwordFile: file });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'secret' });
      expect(result.detail).toContain(file);
    });

    it('removes the password from any detail, even one the server echoes back', async () => {
      const result = await daemon().probe(db, { ...TEST_USER, query: `SELECT '${TEST_USER.password}'`, expect: 'x' });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'unexpected-value', detail: 'expected "x", got "***"' });
    });

    it('fails at once with reason auth when the user may not use the database', async () => {
      const result = await daemon().probe(db, { ...TEST_USER, database: 'mysql' });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'auth' });
    });

    it('fails at once with reason sql when the database does not exist', async () => {
      expect(await daemon().probe(db, { database: 'no_such_db' })).toMatchObject({ status: 'fail-now', reason: 'sql' });
    });

    it('opens a new connection when the configured password changes', async () => {
      const { probe } = daemon();
      expect(await probe(db, { user: TEST_USER.user, password: TEST_USER.password })).toMatchObject({ status: 'ok' });
      expect(await probe(db, { user: TEST_USER.user, password: 'changed-and-wrong' })).toMatchObject({ reason: 'auth' });
    });
  });

  describe('connection lifecycle', () => {
    it('reuses one server connection across many probes and closes it when the target is released', async () => {
      const { probe, pool } = daemon();
      const options = { user: TEST_USER.user, password: TEST_USER.password };
      await vi.waitFor(async () => expect(await vigilSessions()).toHaveLength(0));
      const connectionsBefore = await db.status('Connections');
      for (let i = 0; i < 10; i++) expect(await probe(db, options)).toMatchObject({ status: 'ok' });
      expect((await db.status('Connections')) - connectionsBefore).toBe(1);
      expect(await vigilSessions()).toHaveLength(1);
      expect(await pool.releaseTarget(db.host, db.port)).toBe(1);
      await vi.waitFor(async () => expect(await vigilSessions()).toHaveLength(0));
    });

    it('fails after the server is killed, then reconnects with a fresh connection once it is back', async () => {
      const victim = await startMariaDb();
      onTestFinished(() => victim.stop());
      const { probe, pool } = daemon();
      expect(await probe(victim, {})).toMatchObject({ status: 'ok' });
      await victim.kill();
      const down = await probe(victim, {});
      expect(['fail', 'fail-now']).toContain(down.status);
      expect(['refused', 'reset']).toContain(down.reason);
      await victim.restart();
      const connectionsBefore = await victim.status('Connections');
      expect(await probe(victim, {})).toMatchObject({ status: 'ok', reason: 'primary' });
      expect((await victim.status('Connections')) - connectionsBefore).toBe(1);
      expect(pool.size).toBe(1);
    });

    it('asks for a probe at once (ctx.wake) when the server drops the kept connection, not when vigil closes it', async () => {
      const victim = await startMariaDb();
      onTestFinished(() => victim.stop());
      const runner = createRunner();
      const pool = createResourcePool();
      onTestFinished(() => pool.closeAll());
      let wakes = 0;
      const probe = () =>
        runner.run({
          checker: mysql, target: { host: victim.host, port: victim.port, metadata: {} }, options: parseOptions(mysql, {}),
          timeoutMs: 3000, resources: pool.scope('mysql'), wake: () => wakes++,
        });
      expect(await probe()).toMatchObject({ status: 'ok' });
      await victim.kill();
      await vi.waitFor(() => expect(wakes).toBe(1));
      expect(await probe()).toMatchObject({ status: 'fail-now', reason: 'refused' });
      await victim.restart();
      expect(await probe()).toMatchObject({ status: 'ok' });
      await pool.closeAll();
      expect(await probe()).toMatchObject({ status: 'ok' });
      expect(wakes).toBe(1);
    });

    /** A private server probed once; `newConnections()` counts the server connections opened since. */
    async function probedVictim() {
      const victim = await startMariaDb();
      onTestFinished(async () => {
        victim.resume();
        await victim.stop();
      });
      const { probe } = daemon();
      expect(await probe(victim, {}, 500)).toMatchObject({ status: 'ok' });
      const before = await victim.status('Connections'); // opens the admin connection, kept from here
      return { victim, probe: (budgetMs: number) => probe(victim, {}, budgetMs), newConnections: async () => (await victim.status('Connections')) - before };
    }

    it('keeps the connection through one stalled role query, so a paused server answers on it when it resumes', async () => {
      const { victim, probe, newConnections } = await probedVictim();
      await victim.pause();
      expect(await probe(300)).toMatchObject({ status: 'fail', reason: 'timeout' });
      victim.resume();
      expect(await probe(2000)).toMatchObject({ status: 'ok', reason: 'primary' });
      expect(await newConnections()).toBe(0);
    });

    it('drops the connection after a second stall in a row and reconnects', async () => {
      const { victim, probe, newConnections } = await probedVictim();
      await victim.pause();
      expect(await probe(200)).toMatchObject({ status: 'fail', reason: 'timeout' });
      expect(await probe(200)).toMatchObject({ status: 'fail', reason: 'timeout' });
      victim.resume();
      expect(await probe(2000)).toMatchObject({ status: 'ok', reason: 'primary' });
      expect(await newConnections()).toBe(1);
    });

    it('replaces a connection the server closed while idle without failing the probe', async () => {
      const { probe } = daemon();
      const options = { user: TEST_USER.user, password: TEST_USER.password };
      await vi.waitFor(async () => expect(await vigilSessions()).toHaveLength(0));
      expect(await probe(db, options)).toMatchObject({ status: 'ok' });
      const ids = await vigilSessions();
      expect(ids).toHaveLength(1);
      await db.query(`KILL CONNECTION ${ids[0]!.ID}`);
      await vi.waitFor(async () => expect(await vigilSessions()).toHaveLength(0));
      expect(await probe(db, options)).toMatchObject({ status: 'ok', reason: 'primary' });
    });

    it('fails with timeout when a query outlives queryTimeoutMs, within the budget, and the next probe reconnects', async () => {
      const { probe } = daemon();
      // SLEEP(5) is ten times the budget: a timeout here can only come from queryTimeoutMs or the runner.
      const slow = await probe(db, { query: 'SELECT SLEEP(5)', queryTimeoutMs: 300 }, 500);
      expect(slow).toMatchObject({ status: 'fail', reason: 'timeout' });
      const connectionsBefore = await db.status('Connections');
      expect(await probe(db, {})).toMatchObject({ status: 'ok' });
      expect((await db.status('Connections')) - connectionsBefore).toBe(1);
    });

    it('answers at the runner deadline, drops the connection on abort and settles promptly', async () => {
      const { probe, runner } = daemon();
      const slow = await probe(db, { query: 'SELECT SLEEP(5)', queryTimeoutMs: 5000 }, 300);
      expect(slow).toMatchObject({ status: 'fail', reason: 'timeout' });
      // Settled long before SLEEP(5) would end: the abort dropped the connection.
      await vi.waitFor(() => expect(runner.stats.overdue).toBe(0), { timeout: 3000 });
      const connectionsBefore = await db.status('Connections');
      expect(await probe(db, {})).toMatchObject({ status: 'ok' });
      expect((await db.status('Connections')) - connectionsBefore).toBe(1);
    });
  });

  describe('custom query', () => {
    it('passes when the first column of the first row equals expect', async () => {
      const result = await daemon().probe(db, { query: "SELECT CONCAT('al', 'ive'), 2", expect: 'alive' });
      expect(result).toMatchObject({ status: 'ok', reason: 'primary' });
    });

    it('compares a numeric result as text with a numeric expect', async () => {
      expect(await daemon().probe(db, { query: 'SELECT 1 + 1', expect: 2 })).toMatchObject({ status: 'ok' });
    });

    it('fails at once with unexpected-value when the value differs', async () => {
      const result = await daemon().probe(db, { query: 'SELECT 0', expect: '1' });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'unexpected-value', detail: 'expected "1", got "0"' });
    });

    it('fails at once with unexpected-value when the query returns no rows', async () => {
      const result = await daemon().probe(db, { query: 'SELECT 1 FROM DUAL WHERE 1 = 0', expect: '1' });
      expect(result).toMatchObject({ status: 'fail-now', reason: 'unexpected-value', detail: 'expected "1", got no rows' });
    });

    it('fails at once with reason sql on an SQL error and keeps the connection', async () => {
      const { probe } = daemon();
      const connectionsBefore = await db.status('Connections');
      expect(await probe(db, { query: 'SELEC 1' })).toMatchObject({ status: 'fail-now', reason: 'sql' });
      expect(await probe(db, {})).toMatchObject({ status: 'ok' });
      expect((await db.status('Connections')) - connectionsBefore).toBe(1);
    });
  });
});
