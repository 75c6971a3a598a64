/**
 * The database stops answering (SIGSTOP of mariadbd, as a hung server or a network black hole):
 * every store call fails within its query timeout with VIGIL_ERR_STORE, lease rounds fail so leases
 * lapse by the node's own clock, and once the server runs again the same objects recover without
 * anyone reopening them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLeaseStore } from '../../src/cluster/leases.js';
import { createMembership } from '../../src/cluster/membership.js';
import { createShardKeeper } from '../../src/cluster/shard-keeper.js';
import { SHARD_COUNT } from '../../src/cluster/shards.js';
import { isVigilError } from '../../src/errors.js';
import { openMysqlStore, type MysqlStore } from '../../src/registry/mysql-store.js';
import { waitFor } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { health, instance } from '../helpers/store-fixtures.js';

const TTL = 60_000;
const MARGIN = 5_000;

describeMariaDb('MySQL store when the database stops answering', () => {
  let server: MariaDb;
  let store: MysqlStore;
  let pid: number | undefined;

  beforeAll(async () => {
    server = await startMariaDb();
    store = await openMysqlStore({ url: await freshDatabase(server, 'outage'), queryTimeoutMs: 500, connectTimeoutMs: 500 });
  });
  afterAll(async () => {
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await store?.close();
    await server?.stop();
  });

  const pause = () => {
    pid = Number(readFileSync(join(server.dir, 'mariadbd.pid'), 'utf8').trim());
    process.kill(pid, 'SIGSTOP');
  };
  const resume = () => {
    process.kill(pid!, 'SIGCONT');
    pid = undefined;
  };
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

  it('fails every call with VIGIL_ERR_STORE, lets leases lapse, and recovers by itself when the server runs again', async () => {
    const a = instance('10.0.0.1');
    await store.putInstance(a.key, a.instance, health());
    const clock = { now: 0 };
    const keeper = createShardKeeper({
      nodeId: 'n1',
      membership: createMembership({ db: store.db, nodeId: 'n1', url: 'http://127.0.0.1:1', memberTimeoutMs: 10_000, secret: 's' }),
      leases: createLeaseStore({ db: store.db, nodeId: 'n1', ttlMs: TTL }),
      clock: () => clock.now,
      ttlMs: TTL,
      marginMs: MARGIN,
    });
    await keeper.round();
    await keeper.round();
    expect(keeper.table.held(clock.now)).toHaveLength(SHARD_COUNT);

    pause();
    const write = await failure(store.putHealth(a.key, health({ healthy: false, version: 2 })));
    expect(isVigilError(write, 'VIGIL_ERR_STORE')).toBe(true);
    const read = await failure(store.load());
    expect(isVigilError(read, 'VIGIL_ERR_STORE')).toBe(true);
    clock.now += 1000;
    const round = await failure(keeper.round());
    expect(isVigilError(round, 'VIGIL_ERR_STORE')).toBe(true);
    // Still inside the last confirmed lease: held; past its local deadline: nothing.
    expect(keeper.ownsKey(a.key)).toBe(true);
    clock.now = TTL - MARGIN;
    expect(keeper.table.held(clock.now)).toEqual([]);
    expect(keeper.ownsKey(a.key)).toBe(false);

    resume();
    // The same pool, keeper and store work again once the server answers; nobody reopened anything.
    await waitFor(async () => (await failure(keeper.round())) === undefined, 20_000, 100);
    expect(keeper.table.held(clock.now)).toHaveLength(SHARD_COUNT);
    await store.putHealth(a.key, health({ version: 3, reason: 'after' }));
    const snap = await store.load();
    expect(snap.instances[0]?.health).toEqual(health({ version: 3, reason: 'after' }));
  });
});
