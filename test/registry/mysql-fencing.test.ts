/**
 * What the MySQL store adds for several nodes: health writes fenced by the shard lease epoch, the
 * relay rule for registrations, and the trailing-window change feed. Real MariaDB, leases taken
 * through the real lease store; "nodes" are lease stores with different ids.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLeaseStore, type LeaseStore } from '../../src/cluster/leases.js';
import { shardOf } from '../../src/cluster/shards.js';
import { isVigilError } from '../../src/errors.js';
import { openMysqlStore, type MysqlStore } from '../../src/registry/mysql-store.js';
import { createRegistry } from '../../src/registry/registry.js';
import { openMysql } from '../../src/registry/mysql/db.js';
import { waitFor } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { health, instance } from '../helpers/store-fixtures.js';

const TTL = 60_000;

describeMariaDb('MySQL store: fenced health writes and the change feed', () => {
  let server: MariaDb;
  let store: MysqlStore;
  let n1: LeaseStore;
  let n2: LeaseStore;
  let url: string;
  const a = instance('10.0.0.1');
  const shard = shardOf(a.key);

  beforeAll(async () => {
    server = await startMariaDb();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await store.close();
  });

  async function setup(): Promise<void> {
    url = await freshDatabase(server, 'fence');
    store = await openMysqlStore({ url });
    n1 = createLeaseStore({ db: store.db, nodeId: 'n1', ttlMs: TTL });
    n2 = createLeaseStore({ db: store.db, nodeId: 'n2', ttlMs: TTL });
    await store.putInstance(a.key, a.instance, health());
  }

  const stored = async () => (await store.load()).instances.find((i) => i.key === a.key)?.health;
  const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

  it('writes health under the current epoch and records which node decided it', async () => {
    await setup();
    const [lease] = await n1.acquire([shard]);
    const down = health({ healthy: false, version: 2, failStreak: 3, reason: 'refused', decidedBy: 'checker' });
    await store.putFencedHealth(a.key, down, { nodeId: 'n1', epoch: lease!.epoch });
    expect(await stored()).toEqual(down);
    const changes = await store.changesSince(0);
    expect(changes.health).toMatchObject([{ key: a.key, epoch: lease!.epoch, decidedByNode: 'n1', health: down }]);
  });

  it('refuses a write from a node that was paused past its lease (stale epoch), and changes nothing', async () => {
    await setup();
    const [old] = await n1.acquire([shard]);
    // n1 pauses; its lease lapses by database time; n2 takes the shard and decides.
    await store.db.run('UPDATE vigil_shard_leases SET expires_at = 0 WHERE shard = ?', [shard]);
    const [fresh] = await n2.acquire([shard]);
    expect(fresh!.epoch).toBe(old!.epoch + 1);
    const up = health({ version: 2, okStreak: 1, reason: 'connected', decidedBy: 'checker' });
    await store.putFencedHealth(a.key, up, { nodeId: 'n2', epoch: fresh!.epoch });
    // n1 wakes up and publishes what it decided before the pause.
    const err = await refusal(store.putFencedHealth(a.key, health({ healthy: false, version: 3 }), { nodeId: 'n1', epoch: old!.epoch }));
    expect(isVigilError(err, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toBe(true);
    expect((err as { field?: string }).field).toBe('epoch');
    expect((err as Error).message).toContain(`held by n2 at epoch ${fresh!.epoch}`);
    expect(await stored()).toEqual(up);
  });

  it('refuses a write under a lapsed lease even before anyone else takes the shard', async () => {
    await setup();
    const [lease] = await n1.acquire([shard]);
    await store.db.run('UPDATE vigil_shard_leases SET expires_at = 0 WHERE shard = ?', [shard]);
    const err = await refusal(store.putFencedHealth(a.key, health({ healthy: false, version: 2 }), { nodeId: 'n1', epoch: lease!.epoch }));
    expect(isVigilError(err, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toBe(true);
    expect((err as Error).message).toContain('(lapsed)');
    expect(await stored()).toEqual(health());
  });

  it('refuses a write naming the right epoch from the wrong node, or a shard nobody holds', async () => {
    await setup();
    const err1 = await refusal(store.putFencedHealth(a.key, health({ version: 2 }), { nodeId: 'n1', epoch: 0 }));
    expect(isVigilError(err1, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toBe(true);
    const [lease] = await n1.acquire([shard]);
    const err2 = await refusal(store.putFencedHealth(a.key, health({ version: 2 }), { nodeId: 'n2', epoch: lease!.epoch }));
    expect(isVigilError(err2, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toBe(true);
    expect(await stored()).toEqual(health());
  });

  it('refuses health for a deregistered instance instead of bringing a row back', async () => {
    await setup();
    const [lease] = await n1.acquire([shard]);
    await store.deleteInstance(a.key);
    const err = await refusal(store.putFencedHealth(a.key, health({ version: 2 }), { nodeId: 'n1', epoch: lease!.epoch }));
    expect(isVigilError(err, 'VIGIL_ERR_NOT_FOUND')).toBe(true);
    const [row] = await store.db.rows<{ n: number }>('SELECT COUNT(*) AS n FROM vigil_health');
    expect(row!.n).toBe(0);
  });

  it('cannot be overtaken between check and write: a write waiting on an uncommitted acquisition is refused once it commits', async () => {
    await setup();
    const [lease] = await n1.acquire([shard]);
    const other = openMysql({ url });
    // The write still running on the server (it reads the lease row while optimising, so MariaDB
    // shows it in state "Statistics" rather than as an InnoDB lock wait).
    const blockedWrites = async () =>
      (await server.query<Array<{ n: number }>>("SELECT COUNT(*) AS n FROM information_schema.processlist WHERE command = 'Query' AND info LIKE 'INSERT INTO vigil_health%'"))[0]!.n;
    try {
      const { pending } = await other.transaction(async (tx) => {
        // Another node takes the shard in a transaction it has not committed yet.
        await tx.run("UPDATE vigil_shard_leases SET owner = 'n2', epoch = epoch + 1 WHERE shard = ?", [shard]);
        const write = refusal(store.putFencedHealth(a.key, health({ healthy: false, version: 2 }), { nodeId: 'n1', epoch: lease!.epoch }));
        // The fenced write reads the lease row under a shared lock, so it must wait for the commit.
        await waitFor(async () => (await blockedWrites()) === 1);
        return { pending: write };
      });
      expect(isVigilError(await pending, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toBe(true);
    } finally {
      await other.close();
    }
    expect(await stored()).toEqual(health());
  });

  it('keeps the health of an existing instance when a registration is relayed through another node', async () => {
    await setup();
    const [lease] = await n1.acquire([shard]);
    const down = health({ healthy: false, version: 2, reason: 'refused', decidedBy: 'checker' });
    await store.putFencedHealth(a.key, down, { nodeId: 'n1', epoch: lease!.epoch });
    // n2's memory still has the initial record; it relays a metadata change.
    await store.putInstance(a.key, { ...a.instance, metadata: { zone: 'b' } }, health());
    const snap = await store.load();
    expect(snap.instances).toEqual([{ key: a.key, instance: { ...a.instance, metadata: { zone: 'b' } }, health: down, epoch: lease!.epoch, decidedByNode: 'n1' }]);
  });

  it('loads each record with the epoch and node that decided it, so a node that starts can say who decided', async () => {
    await setup();
    const [lease] = await n1.acquire([shard]);
    const down = health({ healthy: false, version: 2, reason: 'refused', decidedBy: 'checker' });
    await store.putFencedHealth(a.key, down, { nodeId: 'n1', epoch: lease!.epoch });
    const registry = createRegistry({ store, snapshot: await store.load(), healthWriter: { put: () => {}, forget: () => {} } });
    expect(registry.decidedByNode(a.key)).toBe('n1');
    expect(registry.stampOf(a.key)).toEqual({ epoch: lease!.epoch, version: 2 });
  });

  it('writes a batch in one transaction: what the writer holds lands, a stale epoch and a deregistered instance are refused', async () => {
    await setup();
    const b = instance('10.0.0.2');
    const c = instance('10.0.0.3');
    for (const x of [b, c]) await store.putInstance(x.key, x.instance, health());
    await store.deleteInstance(c.key);
    const leases = await n1.acquire([...new Set([shard, shardOf(b.key), shardOf(c.key)])]);
    const epochOf = (key: string) => leases.find((l) => l.shard === shardOf(key))!.epoch;
    const down = health({ healthy: false, version: 2, reason: 'refused', decidedBy: 'checker' });
    const outcomes = await store.putFencedHealthBatch('n1', [
      { key: a.key, health: down, epoch: epochOf(a.key) },
      { key: b.key, health: down, epoch: epochOf(b.key) - 1 },
      { key: c.key, health: down, epoch: epochOf(c.key) },
    ]);
    expect(outcomes).toEqual(['written', 'stale', 'missing']);
    const snap = await store.load();
    expect(snap.instances.find((i) => i.key === a.key)?.health).toEqual(down);
    expect(snap.instances.find((i) => i.key === b.key)?.health).toEqual(health());
    // Another node's batch for the same shards is refused whole: it holds none of them.
    expect(await store.putFencedHealthBatch('n2', [{ key: a.key, health: down, epoch: epochOf(a.key) }])).toEqual(['stale']);
  });

  it('moves an instance row\'s updated_at forward on every change, even within one millisecond of the clock', async () => {
    await setup();
    const time = async () => (await store.db.rows<{ t: number }>('SELECT updated_at AS t FROM vigil_instances WHERE ikey = ?', [a.key]))[0]!.t;
    // As if the last change had happened in the database's future (or in this very millisecond).
    await store.db.run('UPDATE vigil_instances SET updated_at = updated_at + 100000 WHERE ikey = ?', [a.key]);
    const t0 = await time();
    await store.deleteInstance(a.key);
    const t1 = await time();
    await store.putInstance(a.key, a.instance, health());
    const t2 = await time();
    expect([t1 - t0, t2 - t1]).toEqual([1, 1]);
  });

  it('purges only tombstones older than the retention', async () => {
    await setup();
    const b = instance('10.0.0.2');
    await store.putInstance(b.key, b.instance, health());
    await store.deleteInstance(a.key);
    await store.deleteInstance(b.key);
    await store.db.run('UPDATE vigil_instances SET updated_at = updated_at - 7200000 WHERE ikey = ?', [a.key]);
    expect(await store.purgeTombstones(3_600_000)).toBe(1);
    const rows = await store.db.rows<{ k: string }>('SELECT ikey AS k FROM vigil_instances');
    expect(rows.map((r) => r.k)).toEqual([b.key]);
  });

  it('lists what changed since a database time, deregistrations as tombstones, and nothing older', async () => {
    await setup();
    const b = instance('10.0.0.2');
    const first = await store.changesSince(0);
    expect(first.instances.map((i) => i.key)).toEqual([a.key]);
    // Everything below happens at or after `first.now`.
    await store.putInstance(b.key, b.instance, health());
    await store.deleteInstance(a.key);
    const next = await store.changesSince(first.now);
    expect(next.instances.map((i) => [i.key, i.instance === null]).sort()).toEqual([[a.key, true], [b.key, false]].sort());
    expect(next.health.map((h) => h.key)).toEqual([b.key]);
    expect(next.now).toBeGreaterThanOrEqual(first.now);
    // Rows not touched since are left out.
    await store.db.run('UPDATE vigil_instances SET updated_at = 5 WHERE ikey = ?', [b.key]);
    await store.db.run('UPDATE vigil_health SET updated_at = 5 WHERE ikey = ?', [b.key]);
    const later = await store.changesSince(first.now);
    expect(later.instances.map((i) => i.key)).toEqual([a.key]);
    expect(later.health).toEqual([]);
  });
});
