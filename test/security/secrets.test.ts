/**
 * Secrets the API cannot reach: checker configs from any API may not name a file or an environment
 * variable; named credentials live in the operator's config and go only to targets inside their
 * `hosts`; a default checker (which applies to any target) may hold no secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from '../../checkers/mysql.js';
import { buildApp } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { isVigilError } from '../../src/errors.js';
import { parseOptions } from '../../src/health/options.js';
import { createResourcePool } from '../../src/health/resources.js';
import { createRunner } from '../../src/health/runner.js';
import { createCredentialStore, hostMatcher } from '../../src/security/credentials.js';
import { describeMariaDb, startMariaDb, TEST_USER, type MariaDb } from '../helpers/mariadb.js';
import { startTcpServer, type TestServer } from '../helpers/servers.js';
import { nacos, startVigil, until, type Vigil } from '../nacos/helpers.js';

const CREDENTIALS = { 'orders-db': { user: 'vigil', password: 'cred-secret-77', hosts: ['127.0.0.2/32', '::1'] } };
let vigil: Vigil;
let target: TestServer;

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(new URL(path, vigil.url), {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  vigil = await startVigil({ credentials: CREDENTIALS, checks: { intervalMs: 1000, timeoutMs: 500, fastIntervalMs: 200 } });
  target = await startTcpServer();
});
afterAll(async () => {
  await vigil?.stop();
  await target?.close();
});

describe('checker configs from an API', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['passwordFile', { passwordFile: '/etc/shadow' }],
    ['passwordEnv', { passwordEnv: 'HOME' }],
  ];

  it.each(cases)('refuses %s on every route with 400 naming the field, and stores nothing', async (field, options) => {
    const checker = { type: 'mysql', options };
    const reg = await api('POST', '/v1/instances', { service: 'sec-a', ip: '127.0.0.1', port: 3306, checker });
    expect(reg.status).toBe(400);
    expect(reg.json).toMatchObject({ code: 'VIGIL_ERR_CHECKER_OPTION_FORBIDDEN', field: `checker.options.${field}` });
    const cfg = await api('PUT', '/v1/checker-configs', { service: 'sec-a', checker });
    expect(cfg.status).toBe(400);
    expect(cfg.json).toMatchObject({ code: 'VIGIL_ERR_CHECKER_OPTION_FORBIDDEN', field: `checker.options.${field}` });
    expect((await api('GET', '/v1/instances?service=sec-a')).json.instances).toEqual([]);
    expect((await api('GET', '/v1/checker-configs')).json.checkerConfigs).toEqual([]);
  });

  it('refuses a credential name the config does not define', async () => {
    const reg = await api('POST', '/v1/instances', { service: 'sec-b', ip: '127.0.0.1', port: 3306, checker: { type: 'mysql', options: { credential: 'nope' } } });
    expect(reg.status).toBe(400);
    expect(reg.json).toMatchObject({ code: 'VIGIL_ERR_CREDENTIAL_UNKNOWN', field: 'checker.options.credential' });
  });

  it('accepts an inline Nacos pwd for compatibility, and never shows it', async () => {
    const r = await nacos(vigil.url, 'PUT', '/cluster', { serviceName: 'sec-nacos', clusterName: 'DEFAULT', healthChecker: JSON.stringify({ type: 'MYSQL', user: 'u', pwd: 'inline-pwd-33', cmd: 'select 1' }) });
    expect(r.status).toBe(200);
    const shown = JSON.stringify((await api('GET', '/v1/checker-configs')).json);
    expect(shown).toContain('"password":"***"');
    expect(shown).not.toContain('inline-pwd-33');
  });
});

describe('named credentials', () => {
  it('never connects to a target outside the credential hosts: fail-now credential-host', async () => {
    const before = target.connections;
    const reg = await api('POST', '/v1/instances', { service: 'sec-c', ip: '127.0.0.1', port: target.port, checker: { type: 'mysql', options: { credential: 'orders-db' } } });
    expect(reg.status).toBe(201);
    const probed = await until(async () => {
      const inst = (await api('GET', '/v1/instances?service=sec-c')).json.instances[0];
      return inst?.lastProbe ? inst : undefined;
    }, 10_000);
    expect(probed.lastProbe).toMatchObject({ status: 'fail-now', reason: 'credential-host' });
    expect(probed.checker.options.credential).toBe('***');
    expect(target.connections).toBe(before);
  });

  it('matches hosts by address, CIDR and exact name', () => {
    const allows = hostMatcher(['10.1.0.0/16', '127.0.0.2', '::1', 'db.internal']);
    expect([allows('10.1.2.3'), allows('10.2.0.1'), allows('127.0.0.2'), allows('127.0.0.3'), allows('::1'), allows('db.internal'), allows('db.internal.evil')]).toEqual([
      true, false, true, false, true, true, false,
    ]);
  });
});

describe('the default checker', () => {
  it('may hold no secret: start-up refuses it, naming the option', async () => {
    const app = buildApp(parseConfig({ api: { port: 0 }, store: { dataDir: '/nonexistent-never-opened' }, checks: { checker: { type: 'mysql', options: { password: 'x1234' } } }, log: { level: 'silent' } }));
    const err = await app.start().then(() => undefined, (e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_CHECKER_OPTION_FORBIDDEN')).toBe(true);
    expect((err as { field: string }).field).toBe('checks.checker.options.password');
  });
});

describeMariaDb('named credentials against a real MariaDB', () => {
  let db: MariaDb;
  beforeAll(async () => {
    db = await startMariaDb();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('logs in with the credential on a listed host, and refuses an unlisted one without connecting', async () => {
    const pool = createResourcePool();
    try {
      const run = (hosts: string[]) =>
        createRunner({ credentials: createCredentialStore({ db: { ...TEST_USER, hosts } }) }).run({
          checker: mysql,
          target: { host: db.host, port: db.port, metadata: {} },
          options: parseOptions(mysql, { credential: 'db' }),
          timeoutMs: 5000,
          resources: pool.scope('mysql'),
        });
      const before = await db.status('Connections');
      expect(await run(['10.0.0.0/8'])).toMatchObject({ status: 'fail-now', reason: 'credential-host' });
      expect(await db.status('Connections')).toBe(before); // the status query runs on the kept admin connection
      expect(await run([`${db.host}/32`])).toMatchObject({ status: 'ok', reason: 'primary' });
      expect(await db.status('Connections')).toBe(before + 1);
    } finally {
      await pool.closeAll();
    }
  });
});
