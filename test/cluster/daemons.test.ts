/**
 * Three real vigil processes (`vigil start --store mysql://… --node-id nX`) on one private MariaDB,
 * probing real TCP targets in this process that count the connections they accept. Short intervals
 * and a 3 s member timeout keep the file to a few minutes; every wait is for an event, with a
 * generous deadline, never a sleep.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signPeerRequest } from '../../src/cluster/peer-auth.js';
import { shardOf } from '../../src/cluster/shards.js';
import { api, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { startDroppingProxy, type DroppingProxy } from '../helpers/dropping-proxy.js';
import { describeMariaDb, freePort, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { listen } from '../helpers/servers.js';
import { startTrapProxy, type TrapProxy } from './mysql-trap-proxy.js';

const SECRET = 'daemons-test-cluster-secret';
const SERVICES = 30;
const PER_SERVICE = 10;
const INSTANCES = SERVICES * PER_SERVICE;
const INTERVAL_MS = 1000;
const MEMBER_TIMEOUT_MS = 3000;
/**
 * Targets listen on 127.0.0.2: every outgoing connection here (probes, pools, peers) leaves from
 * 127.0.0.1, so a closed target's port can never be taken as another socket's source port before
 * the target opens it again (on 127.0.0.1 a long-lived pool connection did, once: EADDRINUSE).
 */
const TARGET_IP = '127.0.0.2';

/** A TCP target that counts connections; can be closed (refusing) and opened again on its port. */
interface Target {
  port: number;
  count: number;
  server: net.Server;
  open(): Promise<void>;
  close(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const t: Target = {
    port: 0,
    count: 0,
    server: net.createServer(),
    async open() {
      t.server = net.createServer((s) => {
        t.count++;
        s.on('error', () => {});
        s.end();
      });
      t.port = await listen(t.server, t.port, TARGET_IP);
    },
    async close() {
      await new Promise<void>((r) => t.server.close(() => r()));
    },
  };
  await t.open();
  return t;
}

function nodeConfig(nodeId: string, advertiseUrl?: string) {
  return {
    cluster: { nodeId, ...(advertiseUrl ? { advertiseUrl } : {}), memberTimeoutMs: MEMBER_TIMEOUT_MS, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000, reconcileMs: 5000 },
    checks: { intervalMs: INTERVAL_MS, timeoutMs: 500, fastIntervalMs: INTERVAL_MS, downIntervalMs: INTERVAL_MS, jitter: 0, rise: 1, fall: 1 },
    log: { level: 'warn' },
  };
}

/** key → healthy, as one node lists it. */
async function healthOf(d: Daemon): Promise<Map<string, boolean>> {
  const res = await api(d.url, 'GET', '/v1/instances?limit=5000');
  expect(res.status).toBe(200);
  return new Map((res.body.instances as any[]).map((i) => [`${i.service}/${i.ip}:${i.port}`, i.health.healthy as boolean]));
}

async function members(d: Daemon): Promise<Array<{ nodeId: string; alive: boolean; admitted: boolean; shards: number }>> {
  const res = await api(d.url, 'GET', '/v1/cluster/members');
  return res.status === 200 ? res.body.members : [];
}

describeMariaDb('three vigil processes on one MariaDB', () => {
  let db: MariaDb;
  let url: string;
  const nodes = new Map<string, Daemon>();
  const targets: Target[] = [];

  // n1 reaches the database through a proxy that can hold one of its statements in flight (the
  // SIGSTOP case), and waits up to 30 s for an answer, so a statement held across its pause is
  // answered when it wakes rather than timed out. The others use the defaults' order of magnitude.
  let trap: TrapProxy;
  const storeUrl = (nodeId: string) => {
    if (nodeId !== 'n1') return url;
    const u = new URL(url);
    u.port = String(trap.port);
    return u.toString();
  };
  const start = (nodeId: string, env: Record<string, string> = { VIGIL_CLUSTER_SECRET: SECRET }, via?: { port: number; advertiseUrl: string }) =>
    startDaemon({
      args: ['--store', storeUrl(nodeId), '--node-id', nodeId],
      env,
      config: { ...nodeConfig(nodeId, via?.advertiseUrl), ...(nodeId === 'n1' ? { store: { queryTimeoutMs: 30_000 } } : {}) },
      ...(via ? { port: via.port } : {}),
    });
  let proxy: DroppingProxy | undefined;
  const live = () => [...nodes.values()].filter((d) => d.proc.exitCode === null && d.proc.signalCode === null);
  /** Every live node lists every target with the health `expected` gives it. */
  const allAgree = async (expected: (t: Target) => boolean) => {
    for (const d of live()) {
      const h = await healthOf(d);
      if (h.size !== INSTANCES) return false;
      for (const [i, t] of targets.entries()) if (h.get(`svc-${i % SERVICES}/${TARGET_IP}:${t.port}`) !== expected(t)) return false;
    }
    return true;
  };
  /** All three nodes alive in every view, and their shards add up to all 256. */
  const settled = async (count: number, among = live()) => {
    for (const d of among) {
      const ms = (await members(d)).filter((m) => m.alive && m.admitted);
      if (ms.length !== count || ms.reduce((n, m) => n + m.shards, 0) !== 256) return false;
    }
    return true;
  };
  /**
   * Counts connections until every target has accepted at least `k` since the call: a window that
   * ends on an event (the slowest target's k-th probe), not after a fixed time. One prober per
   * target gives about k (k + 1 at a phase edge, a little more for targets of a node the machine
   * scheduled faster); a second prober doubles the rate, so a duplicated target shows about 2k.
   */
  const probedAtLeast = async (k: number) => {
    for (const t of targets) t.count = 0;
    await waitFor(() => targets.every((t) => t.count >= k), 60_000, 20);
    const counts = targets.map((t) => t.count);
    if (process.env.VIGIL_TEST_DEBUG) {
      const histogram: Record<number, number> = {};
      for (const c of counts) histogram[c] = (histogram[c] ?? 0) + 1;
      console.log('connections per target', JSON.stringify(histogram));
    }
    return counts;
  };
  /** No target probed by two nodes: nobody reached twice the slowest target's count. */
  const PROBES = 5;
  const expectOneProberEach = (counts: number[]) => expect(Math.max(...counts)).toBeLessThan(2 * PROBES);

  beforeAll(async () => {
    db = await startMariaDb();
    url = await freshDatabase(db, 'daemons');
    trap = await startTrapProxy(db.port);
    for (let i = 0; i < INSTANCES; i++) targets.push(await startTarget());
    for (const id of ['n1', 'n2', 'n3']) nodes.set(id, await start(id));
  }, 120_000);

  afterAll(async () => {
    for (const d of nodes.values()) await d.kill();
    await proxy?.close();
    await trap?.close();
    for (const t of targets) await t.close().catch(() => {});
    await db?.stop();
  });

  it('lists the same 300 instances on every node, probes each target from exactly one node, and agrees on DOWN and UP', async () => {
    const n1 = nodes.get('n1')!;
    for (const [i, t] of targets.entries()) {
      const res = await api(n1.url, 'POST', '/v1/instances', { service: `svc-${i % SERVICES}`, ip: TARGET_IP, port: t.port, ephemeral: false, checker: { type: 'tcp' } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    await waitFor(() => allAgree(() => true), 30_000, 200);
    await waitFor(() => settled(3), 30_000, 200);
    expectOneProberEach(await probedAtLeast(PROBES));

    const victims = targets.slice(0, 20);
    for (const t of victims) await t.close();
    await waitFor(() => allAgree((t) => !victims.includes(t)), 20_000, 200);
    for (const t of victims) await t.open();
    await waitFor(() => allAgree(() => true), 20_000, 200);

    const decided = (await api(nodes.get('n2')!.url, 'GET', '/v1/instances?limit=5000')).body.instances as any[];
    const flipped = decided.filter((i) => victims.some((t) => t.port === i.port));
    expect(flipped.every((i) => ['n1', 'n2', 'n3'].includes(i.health.decidedByNode))).toBe(true);
  }, 180_000);

  it('refuses a node with another secret and a peer request without the secret', async () => {
    await expect(start('n9', { VIGIL_CLUSTER_SECRET: 'another-secret-of-this-length' })).rejects.toThrow(/VIGIL_ERR_CLUSTER_UNAUTHORIZED/);
    for (const d of live()) expect((await members(d)).some((m) => m.nodeId === 'n9')).toBe(false);

    const n1 = nodes.get('n1')!;
    const key = `public/DEFAULT_GROUP@@svc-0/DEFAULT/${TARGET_IP}:${targets[0]!.port}`;
    const forged = { changes: [{ key, epoch: 1e9, decidedByNode: 'n2', health: { health: { healthy: false, since: 0, version: 1e9, okStreak: 0, failStreak: 9, reason: 'forged', decidedBy: { by: 'checker', type: 'tcp' } } } }] };
    const unsigned = await api(n1.url, 'POST', '/v1/cluster/changes', forged, { 'x-vigil-node': 'n2' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.code).toBe('VIGIL_ERR_CLUSTER_UNAUTHORIZED');
    const body = JSON.stringify(forged);
    const wrong = await api(n1.url, 'POST', '/v1/cluster/changes', body, {
      'content-type': 'application/json',
      ...signPeerRequest('not-the-cluster-secret', 'n2', { method: 'POST', path: '/v1/cluster/changes', body }),
    });
    expect(wrong.status).toBe(401);
    expect((await healthOf(n1)).get(`svc-0/${TARGET_IP}:${targets[0]!.port}`)).toBe(true);
  }, 60_000);

  it('answers "which is the primary" alike on every node, whichever node probes the databases, and follows a role switch', async () => {
    // Two database servers as targets (not the store): one writable, one read-only. Both stay UP
    // throughout, so only the role published with the probe result can tell the other nodes.
    const a = await startMariaDb();
    const b = await startMariaDb({ args: ['--read-only=1'] });
    try {
      const checker = { type: 'mysql', options: { user: 'root', requirePrimary: false } };
      for (const x of [a, b]) {
        const res = await api(nodes.get('n2')!.url, 'POST', '/v1/instances', { service: 'orders-db', ip: x.host, port: x.port, ephemeral: false, checker });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      const answers = async () => Promise.all(live().map(async (d) => (await api(d.url, 'GET', '/v1/services/orders-db/primary')).body.primary?.port as number | undefined));
      await waitFor(async () => (await answers()).every((p) => p === a.port), 30_000, 200);
      await a.setReadOnly(true);
      await b.setReadOnly(false);
      await waitFor(async () => (await answers()).every((p) => p === b.port), 30_000, 200);
      const views = (await api(nodes.get('n1')!.url, 'GET', '/v1/instances?service=orders-db')).body.instances as any[];
      expect(views.map((v) => v.health.healthy)).toEqual([true, true]);
      for (const x of [a, b]) expect((await api(nodes.get('n1')!.url, 'DELETE', `/v1/instances?service=orders-db&ip=${x.host}&port=${x.port}`)).status).toBeLessThan(300);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 120_000);

  it('re-owns the shards of a node killed with SIGKILL (every target probed again, by one node each) and takes the restarted node back', async () => {
    await nodes.get('n3')!.kill();
    const killedAt = Date.now();
    await waitFor(() => settled(2), 30_000, 100);
    // How soon is the design's bound (memberTimeoutMs + one round, lease-plan.test.ts with literal
    // times); a process test on a shared machine only reports it, it does not assert a duration.
    if (process.env.VIGIL_TEST_DEBUG) console.log('shards re-owned after', Date.now() - killedAt, 'ms');
    // Every target, n3's included, is probed again by the two survivors, and by one of them only.
    expectOneProberEach(await probedAtLeast(PROBES));

    // n3 comes back behind a proxy that loses every other request, for the next case.
    const port = await freePort();
    proxy = await startDroppingProxy(() => `http://127.0.0.1:${port}`);
    nodes.set('n3', await start('n3', undefined, { port, advertiseUrl: proxy.url }));
    // Three alive comes a round before the hand-over: wait until n3 holds its share, as n1 sees it.
    const n3Shards = async () => (await members(nodes.get('n1')!)).find((m) => m.nodeId === 'n3')?.shards ?? 0;
    await waitFor(async () => (await settled(3)) && (await n3Shards()) > 0, 30_000, 200);
    expectOneProberEach(await probedAtLeast(PROBES));
  }, 120_000);

  it('agrees on every node when half of the broadcasts to one node are lost: the poll repairs them', async () => {
    const before = proxy!.dropped;
    const victims = targets.slice(40, 70);
    for (const t of victims) await t.close();
    const n3 = nodes.get('n3')!;
    const othersAgree = async (d: Daemon[]) => {
      for (const x of d) {
        const h = await healthOf(x);
        if (victims.some((t, i) => h.get(`svc-${(40 + i) % SERVICES}/${TARGET_IP}:${t.port}`) !== false)) return false;
      }
      return true;
    };
    await waitFor(() => othersAgree([nodes.get('n1')!, nodes.get('n2')!]), 20_000, 100);
    const othersAt = Date.now();
    await waitFor(() => othersAgree([n3]), 20_000, 100);
    if (process.env.VIGIL_TEST_DEBUG) console.log('n3 agreed', Date.now() - othersAt, 'ms after n1 and n2; proxy dropped', proxy!.dropped - before);
    // Broadcasts to n3 really were lost, and n3 still agrees.
    expect(proxy!.dropped - before).toBeGreaterThan(0);
    for (const t of victims) await t.open();
    await waitFor(() => allAgree(() => true), 20_000, 200);
  }, 60_000);

  it('a node stopped past its lease (SIGSTOP) with a health write in flight: the store refuses the write by its stale epoch, and all nodes agree with the targets', async () => {
    const n1 = nodes.get('n1')!;
    const others = [nodes.get('n2')!, nodes.get('n3')!];
    const keyOf = (i: number) => `public/DEFAULT_GROUP@@svc-${i % SERVICES}/DEFAULT/${TARGET_IP}:${targets[i]!.port}`;
    const leases = async () =>
      new Map((await db.query<Array<{ shard: number; owner: string | null; epoch: number }>>(`SELECT shard, owner, epoch FROM \`${new URL(url).pathname.slice(1)}\`.vigil_shard_leases`)).map((l) => [l.shard, l]));
    const self = async () => (await api(n1.url, 'GET', '/v1/cluster/members')).body.self as { publications: { refusedStale: number } };
    // Targets n1 decides now, and the epochs it holds them under.
    const before = await leases();
    const mine = targets.map((t, i) => ({ t, i, shard: shardOf(keyOf(i)) })).filter((x) => before.get(x.shard)?.owner === 'n1').slice(0, 10);
    expect(mine.length).toBeGreaterThan(0);
    const victims = mine.map((x) => x.t);
    const refusedBefore = (await self()).publications.refusedStale;
    // n1's next publication (its batch's fenced INSERT … SELECT) is held on the way to the database: sent, not yet answered.
    trap.trap((sql) => sql.startsWith('INSERT INTO vigil_health'));
    for (const t of victims) await t.close();
    await waitFor(() => trap.held.length > 0, 20_000, 10);
    n1.proc.kill('SIGSTOP');
    try {
      // A stopped process answers nothing: ask only the other two. They take n1's shards under new epochs and decide.
      await waitFor(() => settled(2, others), 30_000, 100);
      await waitFor(async () => {
        for (const d of others) {
          const h = await healthOf(d);
          if (mine.some((x) => h.get(`svc-${x.i % SERVICES}/${TARGET_IP}:${x.t.port}`) !== false)) return false;
        }
        return true;
      }, 20_000, 200);
      // The write reaches the database now, under the epochs n1 held before it stopped.
      trap.release();
    } finally {
      n1.proc.kill('SIGCONT');
    }
    // n1 reads the answer as it wakes: refused, the shards' leases have moved on.
    await waitFor(async () => (await self()).publications.refusedStale > refusedBefore, 30_000, 100);
    const after = await leases();
    for (const x of mine) expect(after.get(x.shard)!.epoch).toBeGreaterThan(before.get(x.shard)!.epoch);
    // Nothing in the store carries n1's old epochs: each victim's record is the survivors' decision or n1's after it rejoined.
    const rows = await db.query<Array<{ k: string; epoch: number }>>(
      `SELECT ikey AS k, epoch FROM \`${new URL(url).pathname.slice(1)}\`.vigil_health WHERE ikey IN (?)`,
      [mine.map((x) => keyOf(x.i))],
    );
    expect(rows).toHaveLength(mine.length);
    for (const r of rows) expect(r.epoch).toBeGreaterThan(before.get(shardOf(r.k))!.epoch);
    await waitFor(() => settled(3), 30_000, 200);
    await waitFor(() => allAgree((t) => !victims.includes(t)), 20_000, 200);
    for (const t of victims) await t.open();
    await waitFor(() => allAgree(() => true), 20_000, 200);
    expectOneProberEach(await probedAtLeast(PROBES));
  }, 120_000);

  it('freezes health while MariaDB is stopped: reads answered, writes refused with 503, nothing flips; continues when it resumes', async () => {
    const pid = Number(readFileSync(join(db.dir, 'mariadbd.pid'), 'utf8').trim());
    const victim = targets[1]!;
    process.kill(pid, 'SIGSTOP');
    try {
      await victim.close();
      const n2 = nodes.get('n2')!;
      const debug = (m: string) => process.env.VIGIL_TEST_DEBUG && console.log(new Date().toISOString(), m);
      debug('stopped');
      const write = await api(n2.url, 'POST', '/v1/instances', { service: 'svc-new', ip: '127.0.0.1', port: 1, ephemeral: false, checker: { type: 'tcp' } });
      expect(write.status).toBe(503);
      expect(write.body.code).toBe('VIGIL_ERR_STORE');
      debug('write refused');
      // The database stays stopped for the 10 s (the scenario, not a measurement) and at
      // least until every node has stopped trusting its leases, after which none could publish
      // anything; all along every node answers reads and the closed target stays UP everywhere.
      const pausedAt = Date.now();
      await waitFor(async () => {
        let lapsed = true;
        for (const d of live()) {
          expect((await healthOf(d)).get(`svc-1/${TARGET_IP}:${victim.port}`)).toBe(true);
          const res = await api(d.url, 'GET', '/v1/cluster/members');
          expect(res.status).toBe(200);
          if (res.body.self.shardsHeld !== 0) lapsed = false;
        }
        return lapsed && Date.now() - pausedAt >= 10_000;
      }, 60_000, INTERVAL_MS);
      debug('leases lapsed on every node, nothing flipped');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(() => allAgree((t) => t !== victim), 30_000, 200);
    await victim.open();
    await waitFor(() => allAgree(() => true), 30_000, 200);
  }, 120_000);
});
