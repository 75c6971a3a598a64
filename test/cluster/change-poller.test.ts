import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChangePoller, newerHealth } from '../../src/cluster/change-poller.js';
import { createLeaseStore } from '../../src/cluster/leases.js';
import { shardOf } from '../../src/cluster/shards.js';
import type { Stamp } from '../../src/cluster/stamp.js';
import { openMysqlStore, type HealthRow, type MysqlStore } from '../../src/registry/mysql-store.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { health, instance } from '../helpers/store-fixtures.js';
import { memorySink } from '../helpers/memory-sink.js';

const row = (key: string, epoch: number, version: number): HealthRow => ({
  key,
  epoch,
  health: health({ version }),
  decidedByNode: 'n1',
  updatedAt: 0,
});

describe('newerHealth', () => {
  it('keeps rows newer than held by (epoch, version), and the newest per key of a batch', () => {
    const held = new Map<string, Stamp>([['a', { epoch: 2, version: 5 }], ['b', { epoch: 2, version: 5 }]]);
    const rows = [row('a', 2, 5), row('b', 3, 1), row('c', 1, 1), row('c', 1, 4), row('c', 1, 2)];
    expect(newerHealth(rows, (k) => held.get(k)).map((r) => [r.key, r.epoch, r.health.health.version])).toEqual([
      ['b', 3, 1],
      ['c', 1, 4],
    ]);
  });

  it('never takes a stale owner\'s higher version over a newer epoch', () => {
    expect(newerHealth([row('a', 1, 99)], () => ({ epoch: 2, version: 1 }))).toEqual([]);
  });
});

describeMariaDb('change poller on MariaDB: what one node writes, another sees within one poll', () => {
  let server: MariaDb;
  let writer: MysqlStore;
  let reader: MysqlStore;

  beforeAll(async () => {
    server = await startMariaDb();
    const url = await freshDatabase(server, 'poll');
    writer = await openMysqlStore({ url });
    reader = await openMysqlStore({ url });
  });
  afterAll(async () => {
    await writer?.close();
    await reader?.close();
    await server?.stop();
  });

  it('applies registrations, fenced health, deregistrations, each once, with no broadcast at all', async () => {
    const [clock] = await reader.db.rows<{ now: number }>('SELECT CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED) AS now');
    const sink = memorySink();
    const poller = createChangePoller({ source: reader, sink, windowMs: 5000, since: clock!.now });
    const a = instance('10.0.0.1');
    const b = instance('10.0.0.2');
    await writer.putInstance(a.key, a.instance, health());
    await writer.putInstance(b.key, b.instance, health());
    const leases = createLeaseStore({ db: writer.db, nodeId: 'n1', ttlMs: 60_000 });
    const [lease] = await leases.acquire([shardOf(a.key)]);
    const down = health({ healthy: false, version: 2, failStreak: 3, reason: 'refused', decidedBy: 'checker' });
    await writer.putFencedHealth(a.key, down, { nodeId: 'n1', epoch: lease!.epoch });

    expect(await poller.poll()).toEqual({ instances: 2, health: 2, settings: 0 });
    expect([...sink.instances.keys()].sort()).toEqual([a.key, b.key].sort());
    expect(sink.health.get(a.key)).toEqual({ stamp: { epoch: lease!.epoch, version: 2 }, health: down, node: 'n1' });

    // The window re-reads the same rows: nothing is applied twice.
    expect(await poller.poll()).toEqual({ instances: 0, health: 0, settings: 0 });

    // Deregistered, registered again and deregistered between two polls: one change, gone
    // (the store orders changes to one row even within a millisecond; mysql-fencing.test.ts).
    await writer.deleteInstance(b.key);
    await writer.putInstance(b.key, { ...b.instance, weight: 7 }, health());
    await writer.deleteInstance(b.key);
    expect(await poller.poll()).toEqual({ instances: 1, health: 0, settings: 0 });
    expect(sink.instances.has(b.key)).toBe(false);
    expect(sink.applied).toBe(5);
  });

  it('does not let an older copy overwrite what the node already holds', async () => {
    const [clock] = await reader.db.rows<{ now: number }>('SELECT CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED) AS now');
    const c = instance('10.0.0.3');
    await writer.putInstance(c.key, c.instance, health({ version: 1 }));
    const sink = memorySink();
    // The node already learnt a newer record by broadcast.
    sink.health.set(c.key, { stamp: { epoch: 4, version: 9 }, health: health({ version: 9 }), node: 'n2' });
    const poller = createChangePoller({ source: reader, sink, windowMs: 5000, since: clock!.now });
    await poller.poll();
    // (Rows of the previous case are inside the window too and are applied; c's older copy is not.)
    expect(sink.health.get(c.key)).toEqual({ stamp: { epoch: 4, version: 9 }, health: health({ version: 9 }), node: 'n2' });
    expect(sink.instances.has(c.key)).toBe(true);
  });

  it('reconciles from a full read: applies what the window missed and drops what the store no longer has', async () => {
    const sink = memorySink();
    // A node paused far longer than the window: its poller starts in the distant past of the rows.
    const poller = createChangePoller({ source: reader, sink, windowMs: 5000, since: 1 });
    const ghost = instance('10.0.0.99');
    sink.instances.set(ghost.key, ghost.instance); // deregistered, and its tombstone purged, while the node slept
    const d = instance('10.0.0.4');
    await writer.putInstance(d.key, d.instance, health());
    const r = await poller.reconcile();
    expect(r.removed).toBe(1);
    expect(sink.instances.has(ghost.key)).toBe(false);
    expect(sink.instances.has(d.key)).toBe(true);
    const stored = (await reader.load()).instances.map((i) => i.key).sort();
    expect([...sink.instances.keys()].sort()).toEqual(stored);
    // A second reconcile finds nothing to do.
    expect(await poller.reconcile()).toEqual({ instances: 0, health: 0, settings: 0, removed: 0 });
  });

  it('keeps an instance registered through this node while the full read ran', async () => {
    const sink = memorySink();
    const late = instance('10.0.0.5');
    // The registration commits, and the node holds it, after the full read took its snapshot.
    const source = {
      changesSince: async (t: number) => {
        const changes = await reader.changesSince(t);
        await writer.putInstance(late.key, late.instance, health());
        sink.instances.set(late.key, late.instance);
        return changes;
      },
      liveInstances: (keys: readonly string[]) => reader.liveInstances(keys),
      settings: () => reader.settings(),
      settingsCover: (version: number) => reader.settingsCover(version),
    };
    const poller = createChangePoller({ source, sink, windowMs: 5000, since: 1 });
    expect((await poller.reconcile()).removed).toBe(0);
    expect(sink.instances.has(late.key)).toBe(true);
  });

  it('re-reads the settings only when another node changed one, deletions included', async () => {
    const sink = memorySink();
    let reads = 0;
    const source = { ...pick(reader), settings: () => (reads++, reader.settings()) };
    const poller = createChangePoller({ source, sink, windowMs: 5000, since: 1 });
    await poller.poll();
    expect(reads).toBe(1); // the first poll reads them: they may have moved since the node loaded
    expect(await poller.poll()).toMatchObject({ settings: 0 });
    expect(reads).toBe(1);

    const entry = { id: 'wl-1', service: 'svc', reason: 'deploy', createdAt: 1 };
    await writer.putSwitch('activeChecks', false);
    await writer.putWhitelist(entry);
    await writer.putCheckerConfig('public/DEFAULT_GROUP@@svc', { scope: { namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc' }, config: { type: 'tcp', port: 7 } });
    expect(await poller.poll()).toMatchObject({ settings: 1 });
    expect(reads).toBe(2);
    expect(sink.settings?.switches).toEqual({ activeChecks: false });
    expect(sink.settings?.whitelist).toEqual([entry]);
    expect(sink.settings?.checkerConfigs).toEqual([
      { key: 'public/DEFAULT_GROUP@@svc', scope: { namespace: 'public', group: 'DEFAULT_GROUP', service: 'svc' }, config: { type: 'tcp', port: 7 } },
    ]);

    await writer.deleteWhitelist(entry.id);
    await writer.deleteCheckerConfig('public/DEFAULT_GROUP@@svc');
    expect(await poller.poll()).toMatchObject({ settings: 1 });
    expect(sink.settings?.whitelist).toEqual([]);
    expect(sink.settings?.checkerConfigs).toEqual([]);
    await writer.putSwitch('activeChecks', true);
  });

  it('does not apply a settings read older than a settings write of its own node, and reads again at the next poll', async () => {
    const sink = memorySink();
    const poller = createChangePoller({ source: reader, sink, windowMs: 5000, since: 1 });
    await poller.poll();
    const before = sink.settings;
    let raced = false;
    // The read is taken, then this node (reader) writes a switch and has it acknowledged before the read's answer is applied.
    const source = {
      ...pick(reader),
      settings: async () => {
        const read = await reader.settings();
        if (!raced) await reader.putSwitch('healthCheckTimes', 7);
        raced = true;
        return read;
      },
    };
    const racing = createChangePoller({ source, sink, windowMs: 5000, since: 1 });
    await writer.putSwitch('other', 1);
    expect(await racing.poll()).toMatchObject({ settings: 0 });
    expect(sink.settings).toBe(before);
    expect(await racing.poll()).toMatchObject({ settings: 1 });
    expect(sink.settings?.switches).toMatchObject({ healthCheckTimes: 7, other: 1 });
  });
});

/** The store's poll side as a plain object, so that a case can replace one of its methods. */
function pick(store: MysqlStore) {
  return {
    changesSince: (t: number, held?: (key: string, stamp: Stamp) => boolean) => store.changesSince(t, held),
    liveInstances: (keys: readonly string[]) => store.liveInstances(keys),
    settings: () => store.settings(),
    settingsCover: (version: number) => store.settingsCover(version),
  };
}
