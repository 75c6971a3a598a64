/**
 * Membership and shard leases on a real private MariaDB, several nodes as objects in one process.
 * Database time is real; each node's local clock is a fake it advances by hand. Leases last a
 * minute by database time, so "time passing" on the database is done by moving rows back in SQL,
 * never by sleeping.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createLeaseStore } from '../../src/cluster/leases.js';
import { createMembership } from '../../src/cluster/membership.js';
import { assignShards } from '../../src/cluster/rendezvous.js';
import { createShardKeeper, type ShardKeeper } from '../../src/cluster/shard-keeper.js';
import { SHARD_COUNT } from '../../src/cluster/shards.js';
import { isVigilError } from '../../src/errors.js';
import { openMysql, type MysqlDb } from '../../src/registry/mysql/db.js';
import { migrate } from '../../src/registry/mysql/migrate.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';

const TTL = 60_000;
const MARGIN = 5_000;
const TIMEOUT = 10_000;
const SECRET = 'cluster-secret';

interface Node {
  id: string;
  db: MysqlDb;
  keeper: ShardKeeper;
  clock: { now: number };
}

describeMariaDb('membership and shard leases on MariaDB', () => {
  let server: MariaDb;
  let url: string;
  let nodes: Node[] = [];

  beforeAll(async () => {
    server = await startMariaDb();
  });
  afterEach(async () => {
    await Promise.all(nodes.map((n) => n.db.close()));
    nodes = [];
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function cluster(...ids: string[]): Promise<Node[]> {
    url = await freshDatabase(server);
    const admin = openMysql({ url });
    await migrate(admin);
    await admin.close();
    return ids.map(node);
  }

  function node(id: string): Node {
    const db = openMysql({ url });
    const clock = { now: 1000 };
    const keeper = createShardKeeper({
      nodeId: id,
      membership: createMembership({ db, nodeId: id, url: `http://127.0.0.1:1/${id}`, memberTimeoutMs: TIMEOUT, secret: SECRET }),
      leases: createLeaseStore({ db, nodeId: id, ttlMs: TTL }),
      clock: () => clock.now,
      ttlMs: TTL,
      marginMs: MARGIN,
    });
    const n = { id, db, keeper, clock };
    nodes.push(n);
    return n;
  }

  /** Rounds on every node until a round changes nothing (a handful suffice). */
  async function settle(list: Node[]): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const results = [];
      for (const n of list) results.push(await n.keeper.round());
      if (results.every((r) => r.plan.acquire.length === 0 && r.plan.release.length === 0)) return;
    }
    throw new Error('leases did not settle in 5 rounds');
  }

  const heldBy = (n: Node) => n.keeper.table.held(n.clock.now);

  /** No shard held by two nodes at once, by their own clocks. */
  function expectDisjoint(list: Node[]): void {
    const seen = new Map<number, string>();
    for (const n of list) for (const s of heldBy(n)) {
      expect(seen.get(s), `shard ${s} held by ${seen.get(s)} and ${n.id}`).toBeUndefined();
      seen.set(s, n.id);
    }
  }

  const dbLeases = (db: MysqlDb) => db.rows<{ shard: number; owner: string | null; epoch: number }>('SELECT shard, owner, epoch FROM vigil_shard_leases ORDER BY shard');

  it('three nodes split all 256 shards as HRW prefers, each exactly once, agreeing with the database', async () => {
    const list = await cluster('n1', 'n2', 'n3');
    await settle(list);
    expectDisjoint(list);
    const preferred = assignShards(['n1', 'n2', 'n3']);
    for (const n of list) expect(heldBy(n)).toEqual(preferred.flatMap((o, s) => (o === n.id ? [s] : [])));
    const rows = await dbLeases(list[0]!.db);
    expect(rows.map((r) => r.owner)).toEqual(preferred);
    expect(list.reduce((sum, n) => sum + heldBy(n).length, 0)).toBe(SHARD_COUNT);
  });

  it('judges members alive by the database clock: a heartbeat older than the timeout is dead', async () => {
    const [a, b] = await cluster('n1', 'n2');
    await a!.keeper.round();
    await b!.keeper.round();
    const membership = createMembership({ db: a!.db, nodeId: 'n1', url: 'x', memberTimeoutMs: TIMEOUT, secret: SECRET });
    expect((await membership.view()).members.map((m) => [m.nodeId, m.alive])).toEqual([['n1', true], ['n2', true]]);
    // n2's last heartbeat is now TIMEOUT + 1 ms old by the database's clock.
    await a!.db.run(`UPDATE vigil_members SET last_seen = last_seen - ? WHERE node_id = 'n2'`, [TIMEOUT + 1000]);
    const view = await membership.view();
    expect(view.members.map((m) => [m.nodeId, m.alive])).toEqual([['n1', true], ['n2', false]]);
    expect(view.now).toBeGreaterThan(view.members[1]!.lastSeen + TIMEOUT);
  });

  it('a dead node\'s shards are taken under new epochs once its leases lapse, and it stops by its own clock', async () => {
    const list = await cluster('n1', 'n2', 'n3');
    const [n1, n2, n3] = list as [Node, Node, Node];
    await settle(list);
    const before = await dbLeases(n1.db);
    const lost = heldBy(n3);
    // n3 stops (paused or dead): its heartbeat and leases age past their limits by database time.
    await n1.db.run(`UPDATE vigil_members SET last_seen = last_seen - ? WHERE node_id = 'n3'`, [TIMEOUT + 1000]);
    // While its leases have not lapsed, nobody takes them.
    await settle([n1, n2]);
    expect((await dbLeases(n1.db)).filter((r) => r.owner === 'n3').map((r) => r.shard)).toEqual(lost);
    await n1.db.run(`UPDATE vigil_shard_leases SET expires_at = expires_at - ? WHERE owner = 'n3'`, [TTL + 1000]);
    await settle([n1, n2]);
    const after = await dbLeases(n1.db);
    expect(after.every((r) => r.owner === 'n1' || r.owner === 'n2')).toBe(true);
    for (const s of lost) expect(after[s]!.epoch).toBe(before[s]!.epoch + 1);
    // Only n3's shards moved (two members left: the cap grew, a few may rebalance, never to n3).
    const moved = after.filter((r, s) => r.owner !== before[s]!.owner).length;
    expect(moved - lost.length).toBeLessThanOrEqual(16);
    // n3's process never learnt: by its own clock it holds its leases until ttl - margin after its last renewal.
    expect(heldBy(n3)).toEqual(lost);
    n3.clock.now += TTL - MARGIN;
    expect(heldBy(n3)).toEqual([]);
    expect(n3.keeper.epochForKey('any')).toBeUndefined();
    expectDisjoint([n1, n2, n3]);
  });

  it('a node that comes back takes its share back through hand-over, never two holders at once', async () => {
    const list = await cluster('n1', 'n2');
    await settle(list);
    const n3 = node('n3');
    // n3's first round: it is alive, but every shard is held, so it acquires nothing yet.
    const first = await n3.keeper.round();
    expect(first.held).toEqual([]);
    for (const n of list) {
      await n.keeper.round(); // releases n3's share
      expectDisjoint([...list, n3]);
    }
    await settle([...list, n3]);
    expectDisjoint([...list, n3]);
    const preferred = assignShards(['n1', 'n2', 'n3']);
    expect(heldBy(n3)).toEqual(preferred.flatMap((o, s) => (o === 'n3' ? [s] : [])));
  });

  it('drops a shard at once when the database refuses its renewal (another holder under a newer epoch)', async () => {
    const [a] = await cluster('n1');
    await settle([a!]);
    // Something took shard 7 behind n1's back (as after a pause longer than the lease).
    await a!.db.run(`UPDATE vigil_shard_leases SET owner = 'other', epoch = epoch + 1 WHERE shard = 7`);
    const r = await a!.keeper.round();
    expect(r.held).not.toContain(7);
    expect(a!.keeper.table.owns(7, a!.clock.now)).toBe(false);
    expect(r.held).toHaveLength(SHARD_COUNT - 1);
  });

  it('re-acquires its own lapsed lease under a new epoch instead of reviving it', async () => {
    const [a] = await cluster('n1');
    await settle([a!]);
    const epoch = a!.keeper.table.epochFor(3, a!.clock.now)!;
    await a!.db.run('UPDATE vigil_shard_leases SET expires_at = 0 WHERE shard = 3');
    await a!.keeper.round();
    expect(a!.keeper.table.epochFor(3, a!.clock.now)).toBe(epoch + 1);
  });

  it('confirms nothing when the store cannot be reached, so its leases lapse by its own clock', async () => {
    const [a] = await cluster('n1');
    await settle([a!]);
    expect(heldBy(a!)).toHaveLength(SHARD_COUNT);
    await a!.db.close();
    a!.clock.now += 1000;
    await expect(a!.keeper.round()).rejects.toThrow();
    a!.clock.now += TTL - MARGIN - 1000;
    expect(heldBy(a!)).toEqual([]);
    nodes = nodes.filter((n) => n !== a);
  });

  it('guards every lease statement in SQL, so a plan made on a stale read does no harm', async () => {
    const [a] = await cluster('n1');
    const A = createLeaseStore({ db: a!.db, nodeId: 'A', ttlMs: TTL });
    const B = createLeaseStore({ db: a!.db, nodeId: 'B', ttlMs: TTL });
    expect(await A.acquire([1, 2])).toEqual([{ shard: 1, epoch: 1 }, { shard: 2, epoch: 1 }]);
    // B believes 1 and 2 are free: it gets only the shard that really is.
    expect(await B.acquire([1, 2, 3])).toEqual([{ shard: 3, epoch: 1 }]);
    // Renewing or releasing under the wrong epoch, or someone else's lease, does nothing.
    expect(await A.renew([{ shard: 1, epoch: 0 }, { shard: 3, epoch: 1 }])).toEqual([]);
    await B.release([{ shard: 1, epoch: 1 }]);
    await A.release([{ shard: 2, epoch: 7 }]);
    const rows = (await dbLeases(a!.db)).slice(1, 4);
    expect(rows).toEqual([{ shard: 1, owner: 'A', epoch: 1 }, { shard: 2, owner: 'A', epoch: 1 }, { shard: 3, owner: 'B', epoch: 1 }]);
    // A lapsed lease is not revived by renewal; re-acquiring it is a new epoch.
    await a!.db.run('UPDATE vigil_shard_leases SET expires_at = 0 WHERE shard = 1');
    expect(await A.renew([{ shard: 1, epoch: 1 }])).toEqual([]);
    expect(await A.acquire([1])).toEqual([{ shard: 1, epoch: 2 }]);
    // The lease lasts ttlMs by the database's clock.
    const [row] = await a!.db.rows<{ left: number }>(`SELECT expires_at - CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED) AS \`left\` FROM vigil_shard_leases WHERE shard = 1`);
    expect(row!.left).toBeGreaterThan(TTL - 5000);
    expect(row!.left).toBeLessThanOrEqual(TTL);
  });

  it('never counts a node started with another secret: it cannot join, and a forged row gets no shards', async () => {
    const [a, b] = await cluster('n1', 'n2');
    await createMembership({ db: a!.db, nodeId: 'n1', url: 'x', memberTimeoutMs: TIMEOUT, secret: SECRET }).join();
    const intruder = createMembership({ db: b!.db, nodeId: 'evil', url: 'x', memberTimeoutMs: TIMEOUT, secret: 'wrong' });
    const err = await intruder.join().then(() => undefined, (e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_CLUSTER_UNAUTHORIZED')).toBe(true);
    expect((err as { field?: string }).field).toBe('cluster.secret');
    // Even if it heartbeats anyway (an old build, a hand-written row), the others do not count it.
    await intruder.heartbeat();
    const refused: string[] = [];
    const keeper = createShardKeeper({
      nodeId: 'n1',
      membership: createMembership({ db: a!.db, nodeId: 'n1', url: 'x', memberTimeoutMs: TIMEOUT, secret: SECRET }),
      leases: createLeaseStore({ db: a!.db, nodeId: 'n1', ttlMs: TTL }),
      clock: () => a!.clock.now,
      ttlMs: TTL,
      marginMs: MARGIN,
      onRefused: (m) => refused.push(m.nodeId),
    });
    const first = await keeper.round();
    await keeper.round();
    expect(first.view.members.find((m) => m.nodeId === 'evil')).toMatchObject({ alive: true, admitted: false });
    expect(refused).toEqual(['evil']); // told once, not every round
    for (let i = 0; i < 3; i++) {
      await b!.keeper.round();
      await keeper.round();
    }
    const owners = new Set((await dbLeases(a!.db)).map((r) => r.owner));
    expect(owners.has('evil')).toBe(false);
    expect([...owners].sort()).toEqual(['n1', 'n2']);
  });

  it('releases everything on a clean shutdown, so another node can take it at once', async () => {
    const [a, b] = await cluster('n1', 'n2');
    await settle([a!, b!]);
    await a!.keeper.releaseAll();
    expect(heldBy(a!)).toEqual([]);
    await createMembership({ db: a!.db, nodeId: 'n1', url: 'x', memberTimeoutMs: TIMEOUT, secret: SECRET }).leave();
    await settle([b!]);
    expect(heldBy(b!)).toHaveLength(SHARD_COUNT);
  });
});
