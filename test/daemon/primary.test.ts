/**
 * The primaries feature in a real vigil process (the built CLI, a YAML config file) against a
 * private MariaDB pair with replication: the `primaries` config section is read, a failover is
 * followed, and `vigil primary` run as a process prints the new primary.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, CLI, removeDir, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, startReplicaOf, type MariaDb } from '../helpers/mariadb.js';

describeMariaDb('primaries in a vigil process', () => {
  let primary: MariaDb;
  let replica: MariaDb;
  let daemon: Daemon;

  beforeAll(async () => {
    primary = await startMariaDb({ binlog: true });
    replica = await startReplicaOf(primary);
    daemon = await startDaemon({ config: { log: { level: 'warn' }, primaries: { maxWaitMs: 2000 } } });
    await api(daemon.url, 'PUT', '/v1/checker-configs', { service: 'orders-db', checker: { type: 'mysql', options: { user: 'root', requirePrimary: false } } });
    for (const db of [primary, replica]) await api(daemon.url, 'POST', '/v1/instances', { service: 'orders-db', ip: db.host, port: db.port });
  });

  afterAll(async () => {
    await daemon?.stop();
    if (daemon) removeDir(daemon.dataDir);
    await replica?.stop();
    await primary?.stop();
  });

  const answer = async () => (await api(daemon.url, 'GET', '/v1/services/orders-db/primary')).body;

  it('reads the primaries section of its config file', async () => {
    const r = await api(daemon.url, 'GET', '/v1/services/orders-db/primary?wait=2001&version=x');
    expect(r).toMatchObject({ status: 400, body: { code: 'VIGIL_ERR_REQUEST_INVALID', field: 'wait' } });
  });

  it('follows a failover, and vigil primary prints the new primary', async () => {
    await waitFor(async () => (await answer()).primary?.port === primary.port, 20_000);
    await primary.kill();
    await replica.query('STOP SLAVE; SET GLOBAL read_only = 0');
    await waitFor(async () => (await answer()).primary?.port === replica.port, 10_000);
    const child = spawn(process.execPath, [CLI, 'primary', 'orders-db', '--url', daemon.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const [code] = (await once(child, 'exit')) as [number];
    expect({ code, stdout }).toEqual({ code: 0, stdout: `${replica.host}:${replica.port}\n` });
  });
});
