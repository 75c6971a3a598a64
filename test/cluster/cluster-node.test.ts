/**
 * Three cluster nodes in one process on a private MariaDB, each with its own pool and its own real
 * HTTP server on loopback (peer route, members route). Rounds and polls are driven by hand except in
 * the last case, which runs them on their timers and waits for the outcome.
 */
import type { FastifyInstance } from 'fastify';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, afterAll, beforeAll, expect, it } from 'vitest';
import { apiServer } from '../helpers/api-server.js';
import { createClusterNode, type ClusterNode } from '../../src/cluster/cluster-node.js';
import { SHARD_COUNT } from '../../src/cluster/shards.js';
import { isVigilError } from '../../src/errors.js';
import { openMysqlStore, type MysqlStore } from '../../src/registry/mysql-store.js';
import { waitFor } from '../helpers/daemon.js';
import { describeMariaDb, freePort, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { startDroppingProxy, type DroppingProxy } from '../helpers/dropping-proxy.js';
import { memorySink, type MemorySink } from '../helpers/memory-sink.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { health, instance } from '../helpers/store-fixtures.js';

const SECRET = 'cluster-secret';

interface TestNode {
  id: string;
  node: ClusterNode;
  store: MysqlStore;
  app: FastifyInstance;
  url: string;
  sink: MemorySink;
  stopped: boolean;
  proxy: DroppingProxy | undefined;
}

describeMariaDb('cluster node: membership, leases, fenced publication, broadcast and poll together', () => {
  let server: MariaDb;
  let url: string;
  let nodes: TestNode[] = [];
  const proxies: DroppingProxy[] = [];

  beforeAll(async () => {
    server = await startMariaDb();
  });
  afterEach(async () => {
    for (const n of nodes) {
      if (!n.stopped) await n.node.stop().catch(() => undefined);
      await n.app.close();
      await n.store.close();
    }
    nodes = [];
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function startNode(id: string, { autoRun = false, lossy = false, batchMs = 10, memberTimeoutMs = 6000 } = {}): Promise<TestNode> {
    const store = await openMysqlStore({ url });
    const port = await freePort();
    const realUrl = `http://127.0.0.1:${port}`;
    // A lossy node is reached by its peers only through a proxy that drops every other request.
    const proxy = lossy ? await startDroppingProxy(() => realUrl) : undefined;
    if (proxy) proxies.push(proxy);
    const advertiseUrl = proxy?.url ?? realUrl;
    const sink = memorySink();
    const node = createClusterNode({
      store, nodeId: id, secret: SECRET, advertiseUrl, sink,
      memberTimeoutMs, leaseRenewMs: 100, leaseMarginMs: memberTimeoutMs / 4, pollMs: 100, pollWindowMs: 5000, batchMs, peerTimeoutMs: 2000, reconcileMs: 60_000, tombstoneRetentionMs: 3_600_000,
      clock: () => performance.now(), logger: pino({ level: 'silent' }), autoRun,
    });
    const app = await apiServer();
    node.registerRoutes(app);
    await app.listen({ port, host: '127.0.0.1' });
    await node.start();
    const n = { id, node, store, app, url: advertiseUrl, sink, stopped: false, proxy };
    nodes.push(n);
    return n;
  }

  async function settle(list: TestNode[]): Promise<void> {
    for (let i = 0; i < 5; i++) {
      let quiet = true;
      for (const n of list) {
        const r = await n.node.round();
        quiet &&= r.plan.acquire.length === 0 && r.plan.release.length === 0;
      }
      if (quiet) return;
    }
    throw new Error('did not settle');
  }

  /** A registered instance whose shard `owner` holds, other than those in `taken`. */
  /** Three settled nodes on a fresh database, a key n1 owns, and a DOWN decision for it (not yet published). */
  async function ownerDecidedDown() {
    url = await freshDatabase(server, 'node');
    const list = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
    await settle(list);
    const [n1, n2, n3] = list as [TestNode, TestNode, TestNode];
    const key = await keyOwnedBy(n1);
    return { n1, n2, n3, key, down: health({ healthy: false, version: 2, failStreak: 3, reason: 'refused', decidedBy: 'checker' }) };
  }

  async function keyOwnedBy(owner: TestNode, ip = 1, taken: ReadonlySet<string> = new Set()): Promise<string> {
    for (let i = ip; ; i++) {
      const a = instance(`10.9.${i >> 8}.${i & 255}`);
      if (owner.node.ownsKey(a.key) && !taken.has(a.key)) {
        await owner.store.putInstance(a.key, a.instance, health());
        return a.key;
      }
    }
  }

  it('lists the same three live members on every node, over HTTP, with all 256 shards held between them', async () => {
    url = await freshDatabase(server, 'node');
    const list = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
    await settle(list);
    await settle(list); // one more round so every node's last read shows the settled leases
    for (const n of list) {
      const res = await request(`${n.url}/v1/cluster/members`);
      const body = (await res.body.json()) as { members: Array<{ nodeId: string; alive: boolean; admitted: boolean; shards: number; url: string }> };
      expect(res.statusCode).toBe(200);
      expect(body.members.map((m) => [m.nodeId, m.alive, m.admitted, m.url])).toEqual(list.map((x) => [x.id, true, true, x.url]));
      expect(body.members.reduce((s, m) => s + m.shards, 0)).toBe(SHARD_COUNT);
      expect(Math.max(...body.members.map((m) => m.shards))).toBeLessThanOrEqual(86);
    }
  });

  it('a health change published by the owner reaches the other nodes by broadcast, before any poll', async () => {
    const { n1, n2, n3, key, down } = await ownerDecidedDown();
    const stamp = await n1.node.publishHealth(key, down);
    await waitFor(() => n2.sink.health.has(key) && n3.sink.health.has(key));
    for (const n of [n2, n3]) expect(n.sink.health.get(key)).toEqual({ stamp, health: down, node: 'n1' });
  });

  it('a node that missed the broadcast has the change after one poll', async () => {
    url = await freshDatabase(server, 'node');
    const list = [await startNode('n1'), await startNode('n2'), await startNode('n3')];
    await settle(list);
    const [n1, , n3] = list as [TestNode, TestNode, TestNode];
    await n3.app.close(); // n3 cannot be reached: every broadcast to it is lost
    const key = await keyOwnedBy(n1);
    const down = health({ healthy: false, version: 2, reason: 'refused', decidedBy: 'checker' });
    await n1.node.publishHealth(key, down);
    expect(n3.sink.health.has(key)).toBe(false);
    await n3.node.poll();
    expect(n3.sink.health.get(key)?.health).toEqual(down);
    expect(n3.sink.instances.has(key)).toBe(true);
  });

  it('with broadcasts through a proxy that loses half of them, every node agrees with the store after one poll', async () => {
    url = await freshDatabase(server, 'node');
    // One batch per node, sent when the test says (the window is longer than the test).
    const lossy = { lossy: true, batchMs: 600_000 };
    const list = [await startNode('n1', lossy), await startNode('n2', lossy), await startNode('n3', lossy)];
    await settle(list);
    const published = new Map<string, ReturnType<typeof health>>();
    for (const [i, n] of list.entries()) {
      for (let k = 0; k < 20; k++) {
        const key = await keyOwnedBy(n, 1000 * (i + 1) + k, new Set(published.keys()));
        const h = health({ healthy: false, version: 2, reason: `by ${n.id}`, decidedBy: 'checker' });
        await n.node.publishHealth(key, h);
        published.set(key, h);
      }
    }
    const sent = await Promise.all(list.map((n) => n.node.flush()));
    expect(sent.map((r) => r.changes)).toEqual([20, 20, 20]);
    expect(sent.reduce((s, r) => s + r.failed.length, 0)).toBe(3);
    // Each node's proxy saw one batch from each of the two others and lost one of them.
    expect(list.map((n) => n.proxy!.seen)).toEqual([2, 2, 2]);
    expect(list.map((n) => n.proxy!.dropped)).toEqual([1, 1, 1]);
    const missing = (n: TestNode) => [...published.keys()].filter((k) => !n.node.ownsKey(k) && n.sink.health.get(k)?.health.health.version !== 2);
    expect(list.map((n) => missing(n).length)).toEqual([20, 20, 20]);
    for (const n of list) await n.node.poll();
    for (const n of list) {
      expect(missing(n)).toEqual([]);
      for (const [key, h] of published) if (!n.node.ownsKey(key)) expect(n.sink.health.get(key)?.health).toEqual(h);
    }
  });

  it('refuses to publish for a shard the node does not hold, and the store keeps what the owner wrote', async () => {
    url = await freshDatabase(server, 'node');
    const list = [await startNode('n1'), await startNode('n2')];
    await settle(list);
    const [n1, n2] = list as [TestNode, TestNode];
    const key = await keyOwnedBy(n1);
    const err = await n2.node.publishHealth(key, health({ healthy: false, version: 5 })).then(() => undefined, (e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_CLUSTER_STALE_EPOCH')).toBe(true);
    expect((await n2.store.load()).instances.find((i) => i.key === key)?.health).toEqual(health());
  });

  it('an override made on a node that does not own the instance is written on the stored record, reaches every node, and the owner builds on it', async () => {
    const { n1, n2, n3, key, down } = await ownerDecidedDown();
    // The owner decided DOWN (version 2, three failures); n2 has not heard of it when its operator acts.
    await n1.node.publishHealth(key, down);
    const override = { healthy: true, by: 'ops', reason: 'maintenance' };
    const local = health({ healthy: true, version: 2, reason: 'override', decidedBy: 'operator', override });
    const stamp = await n2.node.publishHealth(key, local);
    // Replayed on the stored record: version 3 on top of the owner's 2, under the shard's epoch.
    expect(stamp.version).toBe(3);
    expect(stamp.health?.health).toMatchObject({ healthy: true, version: 3, decidedBy: 'operator', override });
    const stored = (await n2.store.load()).instances.find((i) => i.key === key)!;
    expect(stored).toMatchObject({ decidedByNode: 'n2', health: { health: { version: 3, override } } });
    // By broadcast (the batch window may already have sent it, so wait for it rather than flush).
    await waitFor(() => [n1, n3].every((n) => n.sink.health.get(key)?.health.health.version === 3));
    for (const n of [n1, n3]) expect(n.sink.health.get(key)?.health.health).toMatchObject({ version: 3, override });
    // The owner's next decision that did not build on it (version 3 again) is refused, and leaves the lease alone.
    const late = await n1.node.publishHealth(key, health({ healthy: false, version: 3, failStreak: 4, reason: 'refused', decidedBy: 'checker' })).then(() => undefined, (e: unknown) => e);
    expect(isVigilError(late, 'VIGIL_ERR_CLUSTER_SUPERSEDED') && late.field).toBe('version');
    expect(n1.node.ownsKey(key)).toBe(true);
    expect(n1.node.publications.superseded).toBe(1);
    await n1.node.publishHealth(key, health({ healthy: true, version: 4, reason: 'override', decidedBy: 'checker', override }));
    expect((await n1.store.load()).instances.find((i) => i.key === key)?.health?.health.version).toBe(4);
  });

  it('on its timers, a joining node takes its share, and a stopping one hands it back', async () => {
    url = await freshDatabase(server, 'node');
    const list = [await startNode('n1', { autoRun: true }), await startNode('n2', { autoRun: true })];
    const shardsOf = (n: TestNode) => n.node.members().find((m) => m.nodeId === n.id)?.shards ?? 0;
    await waitFor(() => shardsOf(list[0]!) + shardsOf(list[1]!) === SHARD_COUNT && shardsOf(list[0]!) >= 127 && shardsOf(list[1]!) >= 127, 20_000);
    const n3 = await startNode('n3', { autoRun: true });
    await waitFor(() => list.every((n) => n.node.members().filter((m) => m.alive).length === 3) && shardsOf(n3) >= 84, 20_000);
    await n3.node.stop();
    n3.stopped = true;
    await waitFor(() => shardsOf(list[0]!) + shardsOf(list[1]!) === SHARD_COUNT, 20_000);
    expect(list[0]!.node.members().map((m) => m.nodeId)).toEqual(['n1', 'n2']);
  });

  it('a node that crashes: the others re-own its shards on their timers; restarted, it takes its share back', async () => {
    url = await freshDatabase(server, 'node');
    const opts = { autoRun: true, memberTimeoutMs: 1500 };
    const [n1, n2, n3] = [await startNode('n1', opts), await startNode('n2', opts), await startNode('n3', opts)] as [TestNode, TestNode, TestNode];
    const shards = (viewer: TestNode, id: string) => viewer.node.members().find((m) => m.nodeId === id && m.alive)?.shards ?? 0;
    const alive = (viewer: TestNode) => viewer.node.members().filter((m) => m.alive).map((m) => m.nodeId);
    await waitFor(() => [n1, n2, n3].every((v) => alive(v).length === 3) && shards(n1, 'n3') >= 84, 20_000);
    // kill -9 as far as the cluster can tell: no release, no leave, no more heartbeats.
    await n3.node.stop({ graceful: false });
    await waitFor(() => [n1, n2].every((v) => alive(v).join() === 'n1,n2' && shards(v, 'n1') + shards(v, 'n2') === SHARD_COUNT), 20_000);
    // The process comes back with the same id.
    const again = await startNode('n3', opts);
    await waitFor(() => alive(n1).length === 3 && shards(n1, 'n3') >= 84 && shards(n1, 'n1') + shards(n1, 'n2') + shards(n1, 'n3') === SHARD_COUNT, 20_000);
    expect(again.node.members().map((m) => m.nodeId)).toEqual(['n1', 'n2', 'n3']);
  });
});
