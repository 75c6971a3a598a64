/**
 * accessTokens across the nodes of a cluster (real processes, private MariaDB): a Nacos client with
 * a serverList of several vigil nodes logs in on one and calls the others, so every node of a
 * cluster accepts every node's tokens (the signing key comes from the cluster secret), and a node
 * of another cluster (another secret) refuses them.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { shardOf } from '../../src/cluster/shards.js';
import { instanceKey } from '../../src/registry/model.js';
import { api, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { nacos } from '../nacos/helpers.js';

const USERS = [{ username: 'app', password: 'app-pass-91x', role: 'write' }];

const config = (nodeId: string) => ({
  api: { users: USERS, anonymousReads: false },
  cluster: { nodeId, memberTimeoutMs: 3000, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000 },
  log: { level: 'warn' },
});

async function login(d: Daemon): Promise<string> {
  const u = new URL('/nacos/v1/auth/users/login', d.url);
  const res = await fetch(u, { method: 'POST', body: 'username=app&password=app-pass-91x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

describeMariaDb('accessTokens on a cluster of vigil processes', () => {
  let db: MariaDb;
  const a: Daemon[] = [];
  let other: Daemon;
  let dbA = '';

  beforeAll(async () => {
    db = await startMariaDb();
    const urlA = await freshDatabase(db, 'tokA');
    dbA = new URL(urlA).pathname.slice(1);
    const urlB = await freshDatabase(db, 'tokB');
    for (const id of ['a1', 'a2']) a.push(await startDaemon({ args: ['--store', urlA, '--node-id', id], env: { VIGIL_CLUSTER_SECRET: 'token-cluster-secret-aaa' }, config: config(id) }));
    other = await startDaemon({ args: ['--store', urlB, '--node-id', 'b1'], env: { VIGIL_CLUSTER_SECRET: 'token-cluster-secret-bbb' }, config: config('b1') });
  }, 120_000);

  afterAll(async () => {
    for (const d of [...a, other]) await d?.kill();
    await db?.stop();
  });

  it('accepts a token issued by one node on another node of the same cluster, for reads and writes', async () => {
    const [a1, a2] = a as [Daemon, Daemon];
    const accessToken = await login(a1);
    // Without a credential the read is refused: the token is what lets it through.
    expect((await nacos(a2.url, 'GET', '/instance/list', { serviceName: 'tok-svc' })).status).toBe(403);
    const read = await nacos(a2.url, 'GET', '/instance/list', { serviceName: 'tok-svc', accessToken });
    expect(read.status, read.text).toBe(200);
    const write = await nacos(a2.url, 'POST', '/instance', { serviceName: 'tok-svc', ip: '127.0.0.1', port: 24000, ephemeral: 'false', accessToken });
    expect(write.status, write.text).toBe(200);
    // And the other way round.
    const back = await nacos(a1.url, 'GET', '/instance/list', { serviceName: 'tok-svc', accessToken: await login(a2) });
    expect(back.status, back.text).toBe(200);
  }, 60_000);

  it('a registration with a token forwarded to the responsible node is accepted there', async () => {
    const [a1, a2] = a as [Daemon, Daemon];
    const accessToken = await login(a2);
    const headers = { accessToken };
    // Both nodes hold shards, all 256 held: then pick an instance whose shard a1 holds.
    await waitFor(async () => {
      const ms = ((await api(a2.url, 'GET', '/v1/cluster/members', undefined, headers)).body.members as any[] | undefined) ?? [];
      return ms.filter((m) => m.alive && m.admitted && m.shards > 0).length === 2 && ms.reduce((n, m) => n + m.shards, 0) === 256;
    }, 30_000, 200);
    const owners = new Map((await db.query<Array<{ shard: number; owner: string }>>(`SELECT shard, owner FROM \`${dbA}\`.vigil_shard_leases`)).map((r) => [r.shard, r.owner]));
    let port = 25000;
    while (owners.get(shardOf(instanceKey({ namespace: 'public', group: 'DEFAULT_GROUP', service: 'tok-eph', cluster: 'DEFAULT', ip: '127.0.0.1', port }))) !== 'a1') port++;
    const forwarded = async () => (await api(a2.url, 'GET', '/v1/beat/status', undefined, headers)).body.cluster.forwarding.forwarded as number;
    const before = await forwarded();
    const reg = await nacos(a2.url, 'POST', '/instance', { serviceName: 'tok-eph', ip: '127.0.0.1', port, accessToken });
    expect(reg.status, reg.text).toBe(200);
    expect(await forwarded()).toBe(before + 1);
    const listed = await nacos(a1.url, 'GET', '/instance/list', { serviceName: 'tok-eph', accessToken });
    expect((listed.json as { hosts: Array<{ port: number }> }).hosts.map((h) => h.port)).toEqual([port]);
  }, 60_000);

  it('refuses a token issued by a node of another cluster (another secret) with 403 VIGIL_ERR_AUTH_INVALID, and changes nothing', async () => {
    const accessToken = await login(a[0]!);
    const read = await nacos(other.url, 'GET', '/instance/list', { serviceName: 'tok-svc', accessToken });
    expect(read.status).toBe(403);
    expect(read.code).toBe('VIGIL_ERR_AUTH_INVALID');
    const write = await nacos(other.url, 'POST', '/instance', { serviceName: 'tok-other', ip: '127.0.0.1', port: 24001, ephemeral: 'false', accessToken });
    expect(write.status).toBe(403);
    expect(write.code).toBe('VIGIL_ERR_AUTH_INVALID');
    const own = await login(other);
    const listed = await nacos(other.url, 'GET', '/instance/list', { serviceName: 'tok-other', accessToken: own });
    expect(listed.status).toBe(200);
    expect((listed.json as { hosts: unknown[] }).hosts).toEqual([]);
  }, 60_000);
});
