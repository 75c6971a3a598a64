/**
 * The primary of a MySQL service with real replication and vigil's default check settings: a
 * private MariaDB primary and a replica, a SIGSTOP of the primary, a failover by promotion, the old
 * primary back writable (split brain), long-polls and `vigil primary`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import { buildApp, type App } from '../../src/app.js';
import { primaryCommand } from '../../src/cli/primary.js';
import { parseConfig } from '../../src/config/load.js';
import { followPrimary } from '../../examples/primary-follower/follower.js';
import { api, removeDir, tempDir, waitFor } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, startReplicaOf, type MariaDb } from '../helpers/mariadb.js';

const PATH = '/v1/services/orders-db/primary';

describeMariaDb('the primary of a MySQL service', () => {
  let primary: MariaDb;
  let replica: MariaDb & { sync(): Promise<void> };
  let app: App;
  let url: string;
  let dataDir: string;
  const config = parseConfig({ api: { port: 0 }, store: { dataDir: 'unused' } });

  beforeAll(async () => {
    primary = await startMariaDb({ binlog: true });
    replica = await startReplicaOf(primary);
    await primary.query('CREATE DATABASE app; CREATE TABLE app.ticks (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40))');
    dataDir = tempDir();
    app = buildApp(parseConfig({ api: { port: 0 }, store: { dataDir } }), { logger: pino({ level: 'silent' }) });
    ({ url } = await app.start());
    // Live replicas stay healthy; their role is reported apart from liveness.
    const set = await api(url, 'PUT', '/v1/checker-configs', { service: 'orders-db', checker: { type: 'mysql', options: { user: 'root', requirePrimary: false } } });
    expect(set.status).toBe(200);
    for (const db of [primary, replica]) {
      expect((await api(url, 'POST', '/v1/instances', { service: 'orders-db', ip: db.host, port: db.port })).status).toBe(201);
    }
  });

  afterAll(async () => {
    primary?.resume();
    await app?.stop();
    await replica?.stop();
    await primary?.stop();
    removeDir(dataDir);
  });

  const get = (query = '') => api(url, 'GET', `${PATH}${query}`);
  const answersPort = (port: number) => async () => {
    const r = await get();
    return r.status === 200 && r.body.primary.port === port ? r : undefined;
  };
  const cli = async (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await primaryCommand([...args, '--url', url], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
    return { code, stdout, stderr };
  };

  it('names the writable instance, shows roles in the listings, and vigil primary prints it', async () => {
    const r = await waitFor(answersPort(primary.port), 20_000);
    expect(r.body).toMatchObject({ service: 'orders-db', namespace: 'public', group: 'DEFAULT_GROUP', splitBrain: false });
    expect(r.body.primary.role.role).toBe('primary');
    expect(r.body.candidates.map((c: { port: number }) => c.port)).toEqual([primary.port]);
    const rep = await waitFor(async () => {
      const { body } = await api(url, 'GET', '/v1/instances?service=orders-db');
      return body.instances.find((i: { port: number; role: { role: string } | null }) => i.port === replica.port && i.role?.role === 'replica');
    });
    expect(rep.health.healthy).toBe(true);
    const nacos = await api(url, 'GET', '/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP@@orders-db');
    const meta = Object.fromEntries(nacos.body.hosts.map((h: { port: number; metadata: Record<string, string> }) => [h.port, h.metadata]));
    expect(meta[primary.port]).toMatchObject({ role: 'primary', roleSince: expect.stringMatching(/^\d+$/) });
    expect(meta[replica.port]).toMatchObject({ role: 'replica' });
    expect(await cli('orders-db')).toEqual({ code: 0, stdout: `${primary.host}:${primary.port}\n`, stderr: '' });
  });

  it('keeps naming a primary paused for twice the probe timeout (SIGSTOP), at every one of 20+ polls', async () => {
    const before = await get();
    const pauseMs = 2 * config.checks.timeoutMs;
    const answers: number[] = [];
    await primary.pause();
    const until = Date.now() + pauseMs;
    try {
      // At least twice the probe timeout, and at least 20 answers however slowly a loaded machine answers.
      while (Date.now() < until || answers.length < 20) {
        const r = await get();
        answers.push(r.status === 200 ? r.body.primary.port : -r.status);
        // Spacing between polls, not a wait for an event: the pause itself is the test's window.
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      primary.resume();
    }
    expect(answers.length).toBeGreaterThanOrEqual(20);
    expect(answers.every((p) => p === primary.port)).toBe(true);
    // And after the pause it is confirmed again, with the version it had.
    const after = await waitFor(async () => {
      const r = await api(url, 'GET', '/v1/instances?service=orders-db');
      const p = r.body.instances.find((i: { port: number }) => i.port === primary.port);
      return p.lastProbe.status === 'ok' && p.health.healthy ? p : undefined;
    });
    expect(after.role.role).toBe('primary');
    expect((await get()).body.version).toBe(before.body.version);
  });

  it('times out a long-poll cleanly with 304 when nothing changes', async () => {
    const { body } = await get();
    const started = Date.now();
    const r = await get(`?wait=1500&version=${body.version}`);
    expect(r.status).toBe(304);
    expect(r.body).toBe('');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
  });

  it('follows a failover: old primary stopped, replica promoted; a long-poll and the example client hear of it', async () => {
    const { body } = await get();
    const poll = get(`?wait=30000&version=${body.version}`);
    const client = followPrimary({ url, service: 'orders-db', user: 'root' });
    try {
      await waitFor(() => client.target === `${primary.host}:${primary.port}`);
      await client.query("INSERT INTO app.ticks (note) VALUES ('before')");
      await replica.sync();
      await primary.kill();
      await replica.query('STOP SLAVE; SET GLOBAL read_only = 0');
      const r = await waitFor(answersPort(replica.port), 10_000);
      expect(r.body.splitBrain).toBe(false);
      const heard = await poll;
      expect(heard.body.version).not.toBe(body.version);
      // The example client writes to the new primary once vigil names it.
      await waitFor(() => client.query("INSERT INTO app.ticks (note) VALUES ('after')").then(() => true, () => false), 10_000);
      expect(client.target).toBe(`${replica.host}:${replica.port}`);
      const rows = await replica.query<{ note: string }[]>('SELECT note FROM app.ticks ORDER BY id');
      expect(rows.map((row) => row.note)).toEqual(['before', 'after']);
    } finally {
      await client.stop();
    }
  });

  it('refuses split brain with 409 listing both when the old primary comes back writable', async () => {
    await primary.restart(); // starts writable: read_only is off by default
    const r = await waitFor(async () => {
      const a = await get();
      return a.status === 409 ? a : undefined;
    }, 10_000);
    expect(r.body).toMatchObject({ code: 'VIGIL_ERR_PRIMARY_SPLIT_BRAIN', splitBrain: true, primary: null });
    expect(r.body.candidates.map((c: { port: number }) => c.port).sort()).toEqual([primary.port, replica.port].sort());
    const split = await cli('orders-db');
    expect(split.code).toBe(2);
    expect(split.stdout).toBe('');
    expect(split.stderr).toContain(`${primary.host}:${primary.port}`);
  });

  it('names the new primary again once the old one is made read-only', async () => {
    await primary.setReadOnly(true);
    const r = await waitFor(answersPort(replica.port), 10_000);
    expect(r.body.candidates).toHaveLength(1);
  });

  it('answers 503 with a stable code and the reason when no instance is writable', async () => {
    await replica.setReadOnly(true);
    const r = await waitFor(async () => {
      const a = await get();
      return a.status === 503 ? a : undefined;
    }, 10_000);
    expect(r.body).toMatchObject({ code: 'VIGIL_ERR_PRIMARY_NONE', reason: 'all-read-only', primary: null, candidates: [] });
    expect(r.body.instances.map((i: { role: string }) => i.role)).toEqual(['replica', 'replica']);
    expect((await cli('orders-db')).code).toBe(1);
    await replica.setReadOnly(false);
    await waitFor(answersPort(replica.port), 10_000);
  });

  it('answers a waiting long-poll when the answer changes, not at its timeout', async () => {
    const { body } = await get();
    // wait=30000: a poll that ran out would be a 304; the 503 can only come from the change.
    // (How fast the change reaches a waiting poll is a speed figure, measured in bench/, not here.)
    const poll = get(`?wait=30000&version=${body.version}`);
    // An operator takes the primary out: the answer changes the moment the override is stored.
    const set = await api(url, 'PUT', '/v1/overrides', { service: 'orders-db', ip: replica.host, port: replica.port, healthy: false });
    expect(set.status).toBe(200);
    const r = await poll;
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ code: 'VIGIL_ERR_PRIMARY_NONE' });
    expect((await api(url, 'DELETE', `/v1/overrides?service=orders-db&ip=${replica.host}&port=${replica.port}`)).status).toBe(200);
  });

  it('answers 404 for an unknown service and 400 naming the field for bad input, never 5xx', async () => {
    const unknown = await api(url, 'GET', '/v1/services/nope-db/primary');
    expect(unknown).toMatchObject({ status: 404, body: { code: 'VIGIL_ERR_NOT_FOUND', field: 'service' } });
    expect((await cli('nope-db')).code).toBe(3);
    const cases: Array<[string, string]> = [
      ['/v1/services/bad%20name/primary', 'service'],
      [`${PATH}?namespace=a/b`, 'namespace'],
      [`${PATH}?group=%00`, 'group'],
      [`${PATH}?cluster=x%20y`, 'cluster'],
      [`${PATH}?wait=-1`, 'wait'],
      [`${PATH}?wait=abc`, 'wait'],
      [`${PATH}?wait=99999999`, 'wait'],
      [`${PATH}?wait=100&version=%22%3B`, 'version'],
      [`${PATH}?bogus=1`, 'bogus'],
    ];
    for (const [path, field] of cases) {
      const r = await api(url, 'GET', path);
      expect({ path, status: r.status, code: r.body.code, field: r.body.field }).toEqual({ path, status: 400, code: 'VIGIL_ERR_REQUEST_INVALID', field });
    }
  });
});
