/**
 * Ephemeral instances across peers (issue 12): two clusters of three real vigil processes on one
 * private MariaDB (two databases), each with the real `nacos` npm client given all three nodes as
 * its `serverList`. The two clusters run the two kill -9 scenarios side by side, so the 40 s
 * observation windows overlap instead of adding up. Every wait is for an event or a condition with
 * a generous deadline; the 40 s windows are behaviour windows: the test watches the event stream
 * and the listings for the whole window and asserts that nothing happened.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signPeerRequest } from '../../src/cluster/peer-auth.js';
import { api, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { connectSse, type SseClient } from '../helpers/sse.js';

const SECRET = 'ephemeral-test-cluster-secret';
const INSTANCES = 20;
const BEAT_MS = 2000;
const HEARTBEAT_TIMEOUT_MS = 15_000;
const DELETE_TIMEOUT_MS = 20_000;
const WINDOW_MS = 40_000;
const SERVICE = 'DEFAULT_GROUP@@eph';

interface NamingClient {
  registerInstance(service: string, instance: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
  on(event: 'error', fn: (err: Error) => void): void;
  ready(): Promise<void>;
}

const quiet = { info() {}, warn() {}, error() {}, debug() {}, log() {} };
const require = createRequire(import.meta.url);

async function namingClient(nodes: Daemon[]): Promise<NamingClient> {
  const { NacosNamingClient } = require('nacos') as { NacosNamingClient: new (o: object) => NamingClient };
  const serverList = nodes.map((d) => new URL(d.url).host).join(',');
  const client = new NacosNamingClient({ logger: quiet, serverList, namespace: 'public' });
  client.on('error', () => {});
  await client.ready();
  return client;
}

function nodeConfig(nodeId: string, selfPreservation: Record<string, unknown>) {
  return {
    cluster: { nodeId, memberTimeoutMs: 3000, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000, reconcileMs: 5000 },
    beat: { clientBeatIntervalMs: BEAT_MS, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, deleteTimeoutMs: DELETE_TIMEOUT_MS, sweepIntervalMs: 500, selfPreservation },
    log: { level: 'warn' },
  };
}

const port = (i: number) => 21000 + i;

async function hosts(d: Daemon): Promise<Map<number, boolean>> {
  const res = await api(d.url, 'GET', `/nacos/v1/ns/instance/list?serviceName=${encodeURIComponent(SERVICE)}`);
  expect(res.status).toBe(200);
  return new Map((res.body.hosts as any[]).map((h) => [h.port as number, h.healthy as boolean]));
}

async function beatStatus(d: Daemon): Promise<any> {
  return (await api(d.url, 'GET', '/v1/beat/status')).body;
}

const allHealthy = async (nodes: Daemon[]) => {
  for (const d of nodes) {
    const h = await hosts(d);
    if (h.size !== INSTANCES || [...h.values()].some((v) => !v)) return false;
  }
  return true;
};

/** Every node alive in every view, with all 256 shards held. */
const settled = async (nodes: Daemon[]) => {
  for (const d of nodes) {
    const res = await api(d.url, 'GET', '/v1/cluster/members');
    const ms = (res.body.members as any[] | undefined)?.filter((m) => m.alive && m.admitted) ?? [];
    if (ms.length !== nodes.length || ms.reduce((n, m) => n + m.shards, 0) !== 256) return false;
  }
  return true;
};

interface Cluster {
  readonly name: string;
  url: string;
  nodes: Daemon[];
  client?: NamingClient;
  streams: Map<Daemon, SseClient>;
}

describeMariaDb('ephemeral instances on three vigil processes with a Nacos client given all three', () => {
  let db: MariaDb;
  // A expires normally (self-preservation needs more instances than it has); B protects.
  const a: Cluster = { name: 'A', url: '', nodes: [], streams: new Map() };
  const b: Cluster = { name: 'B', url: '', nodes: [], streams: new Map() };
  const preservationOf = { A: { minInstances: 1000 }, B: { minInstances: 10 } } as const;

  const start = (c: Cluster, nodeId: string) =>
    startDaemon({ args: ['--store', c.url, '--node-id', nodeId], env: { VIGIL_CLUSTER_SECRET: SECRET }, config: nodeConfig(nodeId, preservationOf[c.name as 'A' | 'B']) });

  beforeAll(async () => {
    db = await startMariaDb();
    for (const c of [a, b]) {
      c.url = await freshDatabase(db, `eph${c.name}`);
      for (const id of ['n1', 'n2', 'n3']) c.nodes.push(await start(c, id));
    }
    await Promise.all([a, b].map((c) => waitFor(() => settled(c.nodes), 30_000, 200)));
  }, 120_000);

  afterAll(async () => {
    for (const c of [a, b]) {
      for (const s of c.streams.values()) s.close();
      await c.client?.close().catch(() => {});
      for (const d of c.nodes) await d.kill();
    }
    await db?.stop();
  });

  it('lists 20 instances registered through the three-node serverList healthy on every node; beats reaching a node that is not responsible are forwarded and keep them alive', async () => {
    await Promise.all(
      [a, b].map(async (c) => {
        for (const d of c.nodes) c.streams.set(d, await connectSse(new URL('/v1/events', d.url).toString()));
        c.client = await namingClient(c.nodes);
        for (let i = 0; i < INSTANCES; i++) await c.client.registerInstance('eph', { ip: '127.0.0.1', port: port(i) });
        const registeredAt = Date.now();
        await waitFor(() => allHealthy(c.nodes), 20_000, 200);
        // Each instance has exactly one responsible node (counted at each node's next sweep), and not all on one node.
        const responsible = await waitFor(async () => {
          const r = (await Promise.all(c.nodes.map(beatStatus))).map((s) => s.cluster.responsibleFor as number);
          return r.reduce((x, y) => x + y, 0) === INSTANCES && r;
        }, 20_000, 200);
        expect(Math.max(...responsible)).toBeLessThan(INSTANCES);

        // The client picks a server per request: some of its beats reach a node that is not responsible.
        await waitFor(async () => {
          const s = await Promise.all(c.nodes.map(beatStatus));
          return s.reduce((n, x) => n + x.cluster.forwarding.forwarded, 0) >= INSTANCES && s.reduce((n, x) => n + x.counters.beats, 0) >= 3 * INSTANCES;
        }, 60_000, 500);
        // Past the heartbeat timeout since registration, every instance is still healthy everywhere.
        await waitFor(() => Date.now() - registeredAt > HEARTBEAT_TIMEOUT_MS + BEAT_MS, 60_000, 500);
        expect(await allHealthy(c.nodes)).toBe(true);
        for (const d of c.nodes) expect((await beatStatus(d)).counters.markedUnhealthy).toBe(0);

        // A beat sent to one node for every instance: the ones it is not responsible for are
        // forwarded, and the answer is the responsible node's.
        const n1 = c.nodes[0]!;
        const before = await Promise.all(c.nodes.map(beatStatus));
        for (let i = 0; i < INSTANCES; i++) {
          const beat = JSON.stringify({ serviceName: SERVICE, ip: '127.0.0.1', port: port(i), cluster: 'DEFAULT', weight: 1, metadata: {} });
          const res = await api(n1.url, 'PUT', `/nacos/v1/ns/instance/beat?serviceName=${encodeURIComponent(SERVICE)}&beat=${encodeURIComponent(beat)}`);
          expect(res.status).toBe(200);
          expect(res.body).toEqual({ clientBeatInterval: BEAT_MS, code: 10200, lightBeatEnabled: true });
        }
        const after = await Promise.all(c.nodes.map(beatStatus));
        const notN1 = INSTANCES - after[0].cluster.responsibleFor;
        expect(after[0].cluster.forwarding.forwarded - before[0].cluster.forwarding.forwarded).toBeGreaterThanOrEqual(notN1);
        const receivedElsewhere = after.slice(1).reduce((n, s, i) => n + s.cluster.forwarding.received - before[i + 1].cluster.forwarding.received, 0);
        expect(receivedElsewhere).toBeGreaterThanOrEqual(notN1);
        // A light beat for an instance nobody knows: the responsible node's 20404.
        const light = await api(n1.url, 'PUT', `/nacos/v1/ns/instance/beat?serviceName=${encodeURIComponent(SERVICE)}&ip=127.0.0.1&port=29999`);
        expect(light.body.code).toBe(20404);
      }),
    );
  }, 240_000);

  it('answers a beat at every node with the responsible node answering: the nodes that are not responsible forward it (Nacos and native API)', async () => {
    const reg = await api(a.nodes[0]!.url, 'POST', '/v1/instances', { service: 'native-eph', ip: '127.0.0.1', port: 22000, ephemeral: true });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    await waitFor(async () => {
      for (const d of a.nodes) if ((await api(d.url, 'GET', '/v1/instances?service=native-eph')).body.instances?.length !== 1) return false;
      return true;
    }, 20_000, 100);
    const forwardedNow = async () => (await Promise.all(a.nodes.map(beatStatus))).reduce((n, s) => n + s.cluster.forwarding.forwarded, 0);
    const before = await forwardedNow();
    for (const d of a.nodes) {
      const res = await api(d.url, 'PUT', '/v1/beat', { service: 'native-eph', ip: '127.0.0.1', port: 22000 });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ clientBeatIntervalMs: BEAT_MS });
    }
    const path = `/nacos/v1/ns/instance/beat?serviceName=${encodeURIComponent(SERVICE)}&ip=127.0.0.1&port=${port(0)}`;
    for (const d of a.nodes) expect((await api(d.url, 'PUT', path)).body.code).toBe(10200);
    // Other beats (the client's) may be forwarded meanwhile: at least these four.
    expect((await forwardedNow()) - before).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('refuses a beat forwarded without the cluster secret, and changes nothing', async () => {
    const n2 = a.nodes[1]!;
    const beat = JSON.stringify({ serviceName: SERVICE, ip: '127.0.0.1', port: 29998, cluster: 'DEFAULT', weight: 1, metadata: {} });
    const path = `/nacos/v1/ns/instance/beat?serviceName=${encodeURIComponent(SERVICE)}&beat=${encodeURIComponent(beat)}`;
    const unsigned = await api(n2.url, 'PUT', path, undefined, { 'x-vigil-forwarded': '1', 'x-vigil-node': 'n1' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.code).toBe('VIGIL_ERR_CLUSTER_UNAUTHORIZED');
    const wrong = await api(n2.url, 'PUT', path, undefined, { 'x-vigil-forwarded': '1', ...signPeerRequest('not-the-cluster-secret', 'n1', { method: 'PUT', path, body: '' }) });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe('VIGIL_ERR_CLUSTER_UNAUTHORIZED');
    // The replication route refuses the same way.
    const forged = await api(n2.url, 'POST', '/v1/cluster/ephemeral', { holding: false, ops: [] }, { 'x-vigil-node': 'n1' });
    expect(forged.status).toBe(401);
    // A signed beat with the full body would have registered port 29998: nothing did.
    for (const d of a.nodes) expect((await hosts(d)).has(29998)).toBe(false);
  }, 30_000);

  it('after kill -9 of the responsible node (cluster A) and of the node first in the client list (cluster B), no instance is marked unhealthy or deleted on the survivors for 40 s', async () => {
    const statuses = await Promise.all(a.nodes.map(beatStatus));
    // Cluster B loses n1 (first in the list); cluster A the other node responsible for the most instances.
    const most = statuses[1].cluster.responsibleFor >= statuses[2].cluster.responsibleFor ? 1 : 2;
    const victims = new Map<Cluster, Daemon>([
      [a, a.nodes[most]!],
      [b, b.nodes[0]!],
    ]);
    expect(statuses[most].cluster.responsibleFor).toBeGreaterThan(0);
    const marks = new Map<Cluster, number>();
    for (const c of [a, b]) {
      const survivors = c.nodes.filter((d) => d !== victims.get(c));
      for (const d of survivors) marks.set(c, Math.max(marks.get(c) ?? 0, c.streams.get(d)!.events.length));
    }
    const lengths = new Map<SseClient, number>([...a.streams.values(), ...b.streams.values()].map((s) => [s, s.events.length]));
    await Promise.all([...victims.values()].map((d) => d.kill()));
    const killedAt = Date.now();
    for (const c of [a, b]) c.nodes = c.nodes.filter((d) => d !== victims.get(c));

    // Observe the whole window: listings polled, events collected; nothing may go unhealthy or away.
    let polls = 0;
    while (Date.now() - killedAt < WINDOW_MS) {
      for (const c of [a, b]) {
        for (const d of c.nodes) {
          const h = await hosts(d);
          expect(h.size, `${c.name}: a survivor lists every instance`).toBe(INSTANCES);
          expect([...h.values()].every(Boolean), `${c.name}: every instance healthy`).toBe(true);
        }
      }
      polls++;
      await new Promise((r) => setTimeout(r, 500)); // the pace of observation, not a wait for an event
    }
    expect(polls).toBeGreaterThan(5);
    for (const c of [a, b]) {
      for (const d of c.nodes) {
        const s = c.streams.get(d)!;
        const seen = s.events.slice(lengths.get(s));
        const ours = seen.filter((e) => e.data?.data?.instance?.service === 'eph');
        const bad = ours.filter((e) => (e.event === 'health-changed' && e.data.data.healthy === false) || e.event === 'instance-expired' || e.event === 'instance-deregistered');
        expect(bad, `${c.name}: survivor events`).toEqual([]);
      }
      // The survivors took the dead node's instances over.
      await waitFor(() => settled(c.nodes), 30_000, 200);
      const st = await Promise.all(c.nodes.map(beatStatus));
      expect(st.reduce((n, x) => n + x.cluster.responsibleFor, 0)).toBe(INSTANCES);
    }
    expect((await Promise.all(a.nodes.map(beatStatus))).reduce((n, x) => n + x.cluster.takenOver, 0)).toBeGreaterThan(0);
  }, 180_000);

  it('a client that stops without deregistering: the survivors mark its instances unhealthy after the heartbeat timeout and delete them after the delete timeout, each once on every node; with self-preservation (cluster B) every survivor holds the deletions', async () => {
    const lengths = new Map<SseClient, number>([...a.streams.values(), ...b.streams.values()].map((s) => [s, s.events.length]));
    const stopped = Date.now();
    await Promise.all([a.client!.close(), b.client!.close()]);
    const runA = async () => {
      await waitFor(async () => {
        for (const d of a.nodes) if ([...(await hosts(d)).values()].some(Boolean)) return false;
        return true;
      }, 60_000, 200);
      const unhealthyAfter = Date.now() - stopped;
      await waitFor(async () => {
        for (const d of a.nodes) if ((await hosts(d)).size > 0) return false;
        return true;
      }, 60_000, 200);
      const goneAfter = Date.now() - stopped;
      // Lower bounds only: the last beat came at most one interval before the client stopped.
      expect(unhealthyAfter).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS - BEAT_MS - 500);
      expect(goneAfter).toBeGreaterThanOrEqual(DELETE_TIMEOUT_MS - BEAT_MS - 500);
      for (const d of a.nodes) {
        const s = a.streams.get(d)!;
        const seen = s.events.slice(lengths.get(s));
        for (let i = 0; i < INSTANCES; i++) {
          const mine = seen.filter((e) => e.data?.data?.instance?.port === port(i));
          expect(mine.filter((e) => e.event === 'health-changed' && e.data.data.healthy === false), `port ${port(i)}: marked unhealthy once`).toHaveLength(1);
          expect(mine.filter((e) => e.event === 'instance-expired' || e.event === 'instance-deregistered'), `port ${port(i)}: deleted once`).toHaveLength(1);
          expect(mine.filter((e) => e.event === 'instance-registered'), `port ${port(i)}: not resurrected`).toHaveLength(0);
        }
      }
    };
    const runB = async () => {
      await waitFor(async () => {
        for (const d of b.nodes) if ([...(await hosts(d)).values()].some(Boolean)) return false;
        return true;
      }, 60_000, 200);
      // Past the delete timeout (and then some): held on every survivor, nothing deleted.
      await waitFor(async () => {
        if (Date.now() - stopped < DELETE_TIMEOUT_MS + 5000) return false;
        const st = await Promise.all(b.nodes.map(beatStatus));
        return st.every((x) => x.selfPreservation.engaged || x.cluster.peerHolds);
      }, 60_000, 500);
      for (const d of b.nodes) expect((await hosts(d)).size).toBe(INSTANCES);
    };
    await Promise.all([runA(), runB()]);
  }, 180_000);
});
