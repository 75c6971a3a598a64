/**
 * Writes on ephemeral instances (native POST, PUT, DELETE /v1/instances and /v1/overrides; Nacos PUT
 * instance and health/instance) at a node that is
 * not responsible for the instance: forwarded, signed, to the responsible node, whose answer the
 * client gets, so the change takes effect on every node and cannot lose to the responsible node's
 * copy. Three real vigil processes on a private MariaDB and no client beating, so the forwarding
 * counters move only with the requests made here. The responsible node is read from the lease table.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { shardOf } from '../../src/cluster/shards.js';
import { instanceKey } from '../../src/registry/model.js';
import { api, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';

const SECRET = 'ephemeral-native-cluster-secret';
const IDS = ['n1', 'n2', 'n3'] as const;

const config = (nodeId: string) => ({
  cluster: { nodeId, memberTimeoutMs: 3000, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000, reconcileMs: 2000 },
  beat: { clientBeatIntervalMs: 2000, heartbeatTimeoutMs: 60_000, deleteTimeoutMs: 120_000, sweepIntervalMs: 500 },
  log: { level: 'warn' },
});

const idOf = (service: string, port: number) => ({ namespace: 'public', group: 'DEFAULT_GROUP', service, cluster: 'DEFAULT', ip: '127.0.0.1', port });

describeMariaDb('native writes on ephemeral instances at a node that is not responsible', () => {
  let db: MariaDb;
  let dbName = '';
  const nodes: Daemon[] = [];

  beforeAll(async () => {
    db = await startMariaDb();
    const url = await freshDatabase(db, 'ephnative');
    dbName = new URL(url).pathname.slice(1);
    for (const id of IDS) nodes.push(await startDaemon({ args: ['--store', url, '--node-id', id], env: { VIGIL_CLUSTER_SECRET: SECRET }, config: config(id) }));
    // Every node sees all three and all 256 shards are held.
    await waitFor(async () => {
      for (const d of nodes) {
        const ms = ((await api(d.url, 'GET', '/v1/cluster/members')).body.members as any[] | undefined)?.filter((m) => m.alive && m.admitted) ?? [];
        if (ms.length !== 3 || ms.reduce((n, m) => n + m.shards, 0) !== 256) return false;
      }
      return true;
    }, 60_000, 200);
  }, 120_000);

  afterAll(async () => {
    for (const d of nodes) await d.kill();
    await db?.stop();
  });

  /** The responsible node for an instance (its shard's lease holder) and one that is not. */
  async function roles(service: string, port: number): Promise<{ owner: Daemon; other: Daemon; bystander: Daemon }> {
    const shard = shardOf(instanceKey(idOf(service, port)));
    const rows = await db.query<Array<{ owner: string | null }>>(`SELECT owner FROM \`${dbName}\`.vigil_shard_leases WHERE shard = ?`, [shard]);
    const i = IDS.indexOf(rows[0]?.owner as (typeof IDS)[number]);
    expect(i, `shard ${shard} has an owner`).toBeGreaterThanOrEqual(0);
    return { owner: nodes[i]!, other: nodes[(i + 1) % 3]!, bystander: nodes[(i + 2) % 3]! };
  }

  const forwarding = async (d: Daemon) => (await api(d.url, 'GET', '/v1/beat/status')).body.cluster.forwarding as { forwarded: number; received: number };
  const listed = async (d: Daemon, service: string) => ((await api(d.url, 'GET', `/v1/instances?service=${service}`)).body.instances as any[]) ?? [];
  const everywhere = (service: string, test: (rows: any[]) => boolean) =>
    waitFor(async () => {
      for (const d of nodes) if (!test(await listed(d, service))) return false;
      return true;
    }, 20_000, 100);

  it('registers and deregisters through the responsible node: each request is forwarded once and the instance appears, then goes, on every node', async () => {
    const { owner, other } = await roles('native-fwd', 23000);
    const before = [await forwarding(other), await forwarding(owner)] as const;
    const reg = await api(other.url, 'POST', '/v1/instances', { service: 'native-fwd', ip: '127.0.0.1', port: 23000, ephemeral: true });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    expect(reg.body).toMatchObject({ service: 'native-fwd', port: 23000, ephemeral: true });
    expect((await forwarding(other)).forwarded).toBe(before[0].forwarded + 1);
    expect((await forwarding(owner)).received).toBe(before[1].received + 1);
    await everywhere('native-fwd', (rows) => rows.length === 1 && rows[0].ephemeral === true);

    const del = await api(other.url, 'DELETE', '/v1/instances?service=native-fwd&ip=127.0.0.1&port=23000');
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toEqual({ deleted: instanceKey(idOf('native-fwd', 23000)) });
    expect((await forwarding(other)).forwarded).toBe(before[0].forwarded + 2);
    expect((await forwarding(owner)).received).toBe(before[1].received + 2);
    await everywhere('native-fwd', (rows) => rows.length === 0);
    // Deleting it again: the responsible node's 404, relayed with its code.
    const again = await api(other.url, 'DELETE', '/v1/instances', { service: 'native-fwd', ip: '127.0.0.1', port: 23000 });
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('VIGIL_ERR_NOT_FOUND');
  }, 60_000);

  it('an update and a deregistration at a node that is not responsible win over the copy the responsible node made itself', async () => {
    const { owner, other, bystander } = await roles('native-own', 23001);
    // Registered at the responsible node through the Nacos route: its copy carries its lease epoch.
    const nacos = await api(owner.url, 'POST', '/nacos/v1/ns/instance?serviceName=native-own&ip=127.0.0.1&port=23001&ephemeral=true');
    expect(nacos.status).toBe(200);
    await everywhere('native-own', (rows) => rows.length === 1);

    const upd = await api(other.url, 'PUT', '/v1/instances', { service: 'native-own', ip: '127.0.0.1', port: 23001, ephemeral: true, metadata: { zone: 'b' } });
    expect(upd.status, JSON.stringify(upd.body)).toBe(200);
    expect(upd.body.metadata).toEqual({ zone: 'b' });
    await everywhere('native-own', (rows) => rows.length === 1 && rows[0].metadata.zone === 'b');

    const del = await api(bystander.url, 'DELETE', '/v1/instances', { service: 'native-own', ip: '127.0.0.1', port: 23001 });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    await everywhere('native-own', (rows) => rows.length === 0);
    const nacosList = await api(owner.url, 'GET', '/nacos/v1/ns/instance/list?serviceName=native-own');
    expect(nacosList.body.hosts).toEqual([]);
  }, 60_000);

  it('a Nacos update (PUT /nacos/v1/ns/instance) at a node that is not responsible reaches every node, the responsible one included', async () => {
    const { owner, other } = await roles('nacos-upd', 23003);
    const reg = await api(owner.url, 'POST', '/nacos/v1/ns/instance?serviceName=nacos-upd&ip=127.0.0.1&port=23003&ephemeral=true&weight=1');
    expect(reg.status).toBe(200);
    await everywhere('nacos-upd', (rows) => rows.length === 1 && rows[0].weight === 1);
    const before = await forwarding(other);
    const upd = await api(other.url, 'PUT', '/nacos/v1/ns/instance?serviceName=nacos-upd&ip=127.0.0.1&port=23003&weight=7&metadata=' + encodeURIComponent('{"zone":"c"}'));
    expect(upd.status, JSON.stringify(upd.body)).toBe(200);
    expect((await forwarding(other)).forwarded).toBe(before.forwarded + 1);
    await everywhere('nacos-upd', (rows) => rows.length === 1 && rows[0].weight === 7 && rows[0].metadata.zone === 'c');
    // Unknown instance: the responsible node's 404, relayed with its code.
    const missing = await api(other.url, 'PUT', '/nacos/v1/ns/instance?serviceName=nacos-upd&ip=127.0.0.1&port=23999&weight=2');
    expect(missing.status).toBe(404);
    expect(String(missing.body)).toContain('instance not found');
  }, 60_000);

  it('an operator override on an ephemeral instance set at one node and cleared at another holds on every node', async () => {
    const { owner, other, bystander } = await roles('eph-override', 23004);
    const reg = await api(owner.url, 'POST', '/nacos/v1/ns/instance?serviceName=eph-override&ip=127.0.0.1&port=23004&ephemeral=true');
    expect(reg.status).toBe(200);
    await everywhere('eph-override', (rows) => rows.length === 1 && rows[0].health.healthy === true);

    const set = await api(other.url, 'PUT', '/v1/overrides', { service: 'eph-override', ip: '127.0.0.1', port: 23004, healthy: false, reason: 'maintenance' });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.health).toMatchObject({ healthy: false, override: { healthy: false, reason: 'maintenance' } });
    await everywhere('eph-override', (rows) => rows.length === 1 && rows[0].health.healthy === false && rows[0].health.override?.reason === 'maintenance');

    const clear = await api(bystander.url, 'DELETE', '/v1/overrides?service=eph-override&ip=127.0.0.1&port=23004');
    expect(clear.status, JSON.stringify(clear.body)).toBe(200);
    await everywhere('eph-override', (rows) => rows.length === 1 && rows[0].health.override === undefined);

    // The Nacos health route, at a node that is not responsible: also decided by the responsible node.
    const nacos = await api(bystander.url, 'PUT', '/nacos/v1/ns/health/instance?serviceName=eph-override&ip=127.0.0.1&port=23004&healthy=false');
    expect(nacos.status).toBe(200);
    await everywhere('eph-override', (rows) => rows.length === 1 && rows[0].health.healthy === false && rows[0].health.override?.by === 'nacos');
  }, 60_000);

  it('refuses a native registration claiming to be forwarded without the cluster secret, and registers nothing', async () => {
    const { owner } = await roles('native-forged', 23002);
    const res = await api(owner.url, 'POST', '/v1/instances', { service: 'native-forged', ip: '127.0.0.1', port: 23002, ephemeral: true }, { 'x-vigil-forwarded': '1', 'x-vigil-node': 'n1' });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('VIGIL_ERR_CLUSTER_UNAUTHORIZED');
    for (const d of nodes) expect(await listed(d, 'native-forged')).toEqual([]);
  }, 30_000);
});
