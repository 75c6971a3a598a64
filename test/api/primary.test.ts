import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { api, removeDir, tempDir, waitFor } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, startReplicaOf, type MariaDb } from '../helpers/mariadb.js';

describeMariaDb('the primary of a MySQL service', () => {
  let primary: MariaDb;
  let replica: MariaDb;
  let app: App;
  let url: string;
  let dataDir: string;

  beforeAll(async () => {
    primary = await startMariaDb({ binlog: true });
    replica = await startReplicaOf(primary);
    dataDir = tempDir();
    app = buildApp(
      parseConfig({ api: { port: 0 }, store: { dataDir }, checks: { intervalMs: 300, fastIntervalMs: 150, downIntervalMs: 300, timeoutMs: 250, jitter: 0, rise: 1, fall: 1 } }),
      { logger: pino({ level: 'silent' }) },
    );
    ({ url } = await app.start());
    // The service's checker: live replicas stay healthy, their role is reported separately.
    const set = await api(url, 'PUT', '/v1/checker-configs', { service: 'orders-db', checker: { type: 'mysql', options: { user: 'root', requirePrimary: false } } });
    expect(set.status).toBe(200);
    for (const db of [primary, replica]) {
      expect((await api(url, 'POST', '/v1/instances', { service: 'orders-db', ip: db.host, port: db.port })).status).toBe(201);
    }
  });

  afterAll(async () => {
    await app?.stop();
    await replica?.stop();
    await primary?.stop();
    removeDir(dataDir);
  });

  const primaryOf = async () => (await api(url, 'GET', '/v1/services/orders-db/primary')).body;

  it('names the writable instance as primary while the read-only replica stays healthy', async () => {
    // Both probed at least once: each reports its role.
    const instances = await waitFor(async () => {
      const { body } = await api(url, 'GET', '/v1/instances?service=orders-db');
      return body.instances.every((i: { lastProbe: unknown }) => i.lastProbe) ? body.instances : undefined;
    });
    const rep = instances.find((i: { port: number }) => i.port === replica.port);
    expect(rep.health.healthy).toBe(true);
    expect(rep.lastProbe.facts.role).toBe('replica');
    const answer = await primaryOf();
    expect(answer.primary.port).toBe(primary.port);
    expect(answer.splitBrain).toBe(false);
  });

  it('follows a failover: the old primary made read-only and the replica made writable', async () => {
    await primary.setReadOnly(true);
    await replica.setReadOnly(false);
    const answer = await waitFor(async () => {
      const b = await primaryOf();
      return b.primary?.port === replica.port ? b : undefined;
    });
    expect(answer.splitBrain).toBe(false);
  });

  it('reports split brain when two instances are writable', async () => {
    await primary.setReadOnly(false);
    const answer = await waitFor(async () => {
      const b = await primaryOf();
      return b.splitBrain ? b : undefined;
    });
    expect(answer.primary).toBeNull();
    expect(answer.candidates.map((c: { port: number }) => c.port).sort()).toEqual([primary.port, replica.port].sort());
  });
});
