/**
 * One store contract, two stores: every case below runs against the embedded SQLite store (through
 * the asynchronous contract, async-store.ts) and against the MySQL store on a private MariaDB.
 * "Reopen" is a new store object on the same data, as after a restart of the node.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { asyncStore, type AsyncStore } from '../../src/registry/async-store.js';
import { openMysqlStore } from '../../src/registry/mysql-store.js';
import { openSqliteStore } from '../../src/registry/sqlite-store.js';
import { removeDir, tempDir } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { health, instance } from '../helpers/store-fixtures.js';

interface Backend {
  /** A store on fresh, empty data; `reopen` opens the same data again. */
  fresh(): Promise<{ store: AsyncStore; reopen(): Promise<AsyncStore> }>;
}

function storeContract(backend: () => Backend): void {
  const opened: AsyncStore[] = [];
  const track = (s: AsyncStore) => (opened.push(s), s);
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  const fresh = async () => {
    const f = await backend().fresh();
    track(f.store);
    return { store: f.store, reopen: async () => track(await f.reopen()) };
  };

  it('loads nothing from an empty store', async () => {
    const { store } = await fresh();
    expect(await store.load()).toEqual({ instances: [], checkerConfigs: [], whitelist: [], switches: {} });
  });

  it('keeps an instance with its health, probe result and streak counters across a reopen', async () => {
    const { store, reopen } = await fresh();
    const a = instance('10.0.0.1');
    await store.putInstance(a.key, a.instance, health());
    const probed = health({ version: 2, okStreak: 0, failStreak: 2, reason: 'refused', decidedBy: 'checker' }, {
      type: 'tcp', status: 'fail', reason: 'refused', latencyMs: 1.5, startedAt: 1_700_000_001_000,
    });
    await store.putHealth(a.key, probed);
    const snap = await (await reopen()).load();
    expect(snap.instances).toEqual([{ key: a.key, instance: a.instance, health: probed }]);
  });

  it('deletes an instance with its health; deleting an unknown key is not an error', async () => {
    const { store, reopen } = await fresh();
    const a = instance('10.0.0.1');
    const b = instance('10.0.0.2');
    await store.putInstance(a.key, a.instance, health());
    await store.putInstance(b.key, b.instance, health());
    await store.deleteInstance(a.key);
    await store.deleteInstance('public/DEFAULT_GROUP@@nope/DEFAULT/10.9.9.9:1');
    expect((await (await reopen()).load()).instances.map((i) => i.key)).toEqual([b.key]);
  });

  it('takes the new health when an instance is registered again after its deletion', async () => {
    const { store } = await fresh();
    const a = instance('10.0.0.1');
    await store.putInstance(a.key, a.instance, health({ healthy: false, version: 9 }));
    await store.deleteInstance(a.key);
    await store.putInstance(a.key, { ...a.instance, weight: 5 }, health());
    expect((await store.load()).instances).toEqual([{ key: a.key, instance: { ...a.instance, weight: 5 }, health: health() }]);
  });

  it('treats keys that differ only in case as two instances', async () => {
    const { store } = await fresh();
    const a = instance('10.0.0.1', 80, 'Orders');
    const b = instance('10.0.0.1', 80, 'orders');
    await store.putInstance(a.key, a.instance, health());
    await store.putInstance(b.key, b.instance, health({ healthy: false }));
    expect((await store.load()).instances.map((i) => [i.instance.service, i.health?.health.healthy]).sort()).toEqual([['Orders', true], ['orders', false]]);
  });

  it('replaces and deletes checker configs, whitelist entries and switches, durably', async () => {
    const { store, reopen } = await fresh();
    const scope = { namespace: 'public', group: 'DEFAULT_GROUP', service: 'mysql-orders' };
    await store.putCheckerConfig('public/DEFAULT_GROUP@@mysql-orders', { scope, config: { type: 'tcp', options: {} } });
    await store.putCheckerConfig('public/DEFAULT_GROUP@@mysql-orders', { scope, config: { type: 'mysql', options: { user: 'u' } } });
    await store.putCheckerConfig('public/DEFAULT_GROUP@@gone', { scope: { ...scope, service: 'gone' }, config: { type: 'tcp', options: {} } });
    await store.deleteCheckerConfig('public/DEFAULT_GROUP@@gone');
    const entry = { id: 'w1', service: 'mysql-orders', reason: 'deploy', createdAt: 1, expiresAt: 2 };
    await store.putWhitelist(entry);
    await store.putWhitelist({ id: 'w2', reason: 'x', createdAt: 1 });
    await store.deleteWhitelist('w2');
    await store.putSwitch('healthCheckEnabled', true);
    await store.putSwitch('healthCheckEnabled', false);
    await store.putSwitch('limits', { a: [1, 2] });
    const snap = await (await reopen()).load();
    expect(snap.checkerConfigs).toEqual([{ key: 'public/DEFAULT_GROUP@@mysql-orders', scope, config: { type: 'mysql', options: { user: 'u' } } }]);
    expect(snap.whitelist).toEqual([entry]);
    expect(snap.switches).toEqual({ healthCheckEnabled: false, limits: { a: [1, 2] } });
  });

  it('keeps 300 instances over 30 services written concurrently', async () => {
    const { store, reopen } = await fresh();
    const all = Array.from({ length: 300 }, (_, i) => instance(`10.1.${i >> 8}.${i & 255}`, 3306, `svc-${i % 30}`));
    await Promise.all(all.map((a) => store.putInstance(a.key, a.instance, health())));
    const snap = await (await reopen()).load();
    expect(snap.instances.map((i) => i.key).sort()).toEqual(all.map((a) => a.key).sort());
    expect(new Set(snap.instances.map((i) => i.instance.service)).size).toBe(30);
  });
}

describe('store contract: embedded (SQLite)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));
  storeContract(() => ({
    async fresh() {
      const dataDir = tempDir('vigil-store-');
      dirs.push(dataDir);
      const open = async () => asyncStore(openSqliteStore({ dataDir }));
      return { store: await open(), reopen: open };
    },
  }));
});

describeMariaDb('store contract: MySQL (MariaDB)', () => {
  let server: MariaDb;
  beforeAll(async () => {
    server = await startMariaDb();
  });
  afterAll(async () => {
    await server?.stop();
  });
  storeContract(() => ({
    async fresh() {
      const url = await freshDatabase(server, 'contract');
      const open = () => openMysqlStore({ url });
      return { store: await open(), reopen: open };
    },
  }));
});
