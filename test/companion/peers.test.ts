/**
 * Several companions (issue 14, item 5): three real vigil processes in companion mode on one
 * private MariaDB (`--store mysql://… --node-id nX`) beside one scripted Nacos server, probing real
 * TCP targets. Each node talks to the server through a port of its own, so every health write
 * names the node that sent it. Every wait is for an event, with a generous deadline.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { FAST_CHECKS, hostPort, statusOf, switchableTcp, type SwitchableTarget } from './helpers.js';
import { startScriptedNacos, type ScriptedHost, type ScriptedNacos } from './scripted-nacos.js';

const SECRET = 'companion-peers-cluster-secret';
const SERVICES = 12;
const PER_SERVICE = 5;
const INSTANCES = SERVICES * PER_SERVICE;
const MEMBER_TIMEOUT_MS = 3000;
const DEADLINE = 30_000;

interface Instance {
  readonly service: string;
  readonly host: ScriptedHost;
  readonly target: SwitchableTarget;
}

describeMariaDb('three companions on one MariaDB beside one Nacos server', () => {
  let db: MariaDb;
  let url: string;
  let nacos: ScriptedNacos;
  const nodes = new Map<string, Daemon>();
  /** Local port of the scripted server → the node given that port. */
  const nodeOfPort = new Map<number, string>();
  const instances: Instance[] = [];

  const start = async (nodeId: string): Promise<Daemon> => {
    const serverUrl = nodes.size === 0 && nodeOfPort.size === 0 ? nacos.url : await nacos.listen();
    nodeOfPort.set(Number(new URL(serverUrl).port), nodeId);
    return startDaemon({
      args: ['--store', url, '--node-id', nodeId],
      env: { VIGIL_CLUSTER_SECRET: SECRET },
      config: {
        cluster: { memberTimeoutMs: MEMBER_TIMEOUT_MS, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000, reconcileMs: 2000 },
        checks: FAST_CHECKS,
        source: { nacos: { serverAddr: hostPort(serverUrl), pollIntervalMs: 300, requestTimeoutMs: 1000 } },
        log: { level: 'warn' },
      },
    });
  };
  const live = () => [...nodes.entries()].filter(([, d]) => d.proc.exitCode === null && d.proc.signalCode === null);
  const key = (i: Instance) => `${i.service}:${i.host.port}`;
  /** Health writes so far: instance → the nodes that sent them, in order. */
  const writes = (from = 0): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    for (const r of nacos.requests.slice(from)) {
      if (r.path !== '/ns/health/instance') continue;
      const k = `${r.params.get('serviceName')!.replace('DEFAULT_GROUP@@', '')}:${r.params.get('port')}`;
      out.set(k, [...(out.get(k) ?? []), nodeOfPort.get(r.port) ?? `port ${r.port}`]);
    }
    return out;
  };
  /** Every live node sees every other live one and the shards add up; each owns a share of the instances. */
  const settled = async (count: number) => {
    let owned = 0;
    for (const [, d] of live()) {
      const ms = (await api(d.url, 'GET', '/v1/cluster/members')).body.members as Array<{ alive: boolean; admitted: boolean; shards: number }>;
      const up = ms.filter((m) => m.alive && m.admitted);
      if (up.length !== count || up.reduce((n, m) => n + m.shards, 0) !== 256) return false;
      const s = await statusOf(d.url);
      if (s.instances !== INSTANCES || s.owned === 0) return false;
      owned += s.owned;
    }
    return owned === INSTANCES;
  };
  /** Waits until every live node has finished `n` more polls. */
  const morePolls = async (n: number) => {
    const before = new Map(await Promise.all(live().map(async ([id, d]) => [id, (await statusOf(d.url)).polls.ok as number] as const)));
    await waitFor(async () => {
      for (const [id, d] of live()) if ((await statusOf(d.url)).polls.ok < before.get(id)! + n) return false;
      return true;
    }, DEADLINE, 100);
  };

  beforeAll(async () => {
    db = await startMariaDb();
    url = await freshDatabase(db, 'companion');
    nacos = await startScriptedNacos();
    for (let s = 0; s < SERVICES; s++) {
      const hosts: ScriptedHost[] = [];
      for (let i = 0; i < PER_SERVICE; i++) {
        const target = await switchableTcp();
        const host = { ip: '127.0.0.1', port: target.port, healthy: true, ephemeral: false, clusterName: 'DEFAULT' };
        hosts.push(host);
        instances.push({ service: `svc-${s}`, host, target });
      }
      // One ephemeral instance per service: no node may touch it.
      hosts.push({ ip: '127.0.0.1', port: 1, healthy: true, ephemeral: true, clusterName: 'DEFAULT' });
      nacos.services.set(`svc-${s}`, { clusters: new Map([['DEFAULT', { type: 'NONE' }]]), hosts });
    }
    for (const id of ['n1', 'n2', 'n3']) nodes.set(id, await start(id));
  }, 120_000);

  afterAll(async () => {
    for (const d of nodes.values()) await d.kill();
    for (const i of instances) await i.target.close();
    await nacos?.close();
    await db?.stop();
  });

  it('splits the instances between the nodes: each flip is written once, by one node, and nothing at steady state', async () => {
    await waitFor(() => settled(3), DEADLINE, 200);
    await morePolls(2);
    // Every target is up and the server shows every instance healthy: nothing to write.
    expect(writes().size).toBe(0);

    const victims = instances.slice(0, 30);
    const mark = nacos.requests.length;
    for (const v of victims) await v.target.down();
    await waitFor(() => victims.every((v) => !v.host.healthy), DEADLINE, 100);
    await morePolls(3);
    const w = writes(mark);
    expect([...w.keys()].sort()).toEqual(victims.map(key).sort());
    for (const [k, by] of w) expect(by, k).toHaveLength(1);
    // The work is split: every node wrote some of them.
    expect(new Set([...w.values()].map((by) => by[0]))).toEqual(new Set(['n1', 'n2', 'n3']));
    expect(instances.slice(30).every((i) => i.host.healthy)).toBe(true);
    expect(new Set(nacos.requests.map((r) => `${r.method} ${r.path}`))).toEqual(
      new Set(['GET /console/namespaces', 'GET /ns/service/list', 'GET /ns/service', 'GET /ns/instance/list', 'PUT /ns/health/instance']),
    );
    for (const s of nacos.services.values()) expect(s.hosts.filter((h) => h.ephemeral).every((h) => h.healthy)).toBe(true);
  }, 120_000);

  it('gives the instances of a node killed with SIGKILL to the others, which write them back once each', async () => {
    const victims = instances.slice(0, 30);
    const byNode = writes();
    const ofN3 = victims.filter((v) => byNode.get(key(v))![0] === 'n3');
    expect(ofN3.length).toBeGreaterThan(0);
    await nodes.get('n3')!.kill();
    await waitFor(() => settled(2), DEADLINE, 200);

    // The targets come back: the server must show every victim healthy again, n3's included.
    const mark = nacos.requests.length;
    for (const v of victims) await v.target.up();
    await waitFor(() => victims.every((v) => v.host.healthy), DEADLINE, 100);
    await morePolls(3);
    const w = writes(mark);
    expect([...w.keys()].sort()).toEqual(victims.map(key).sort());
    for (const [k, by] of w) {
      expect(by, k).toHaveLength(1);
      expect(['n1', 'n2'], k).toContain(by[0]);
    }
    // Instances n1 and n2 held before stay with them: only the dead node's share moves.
    for (const v of victims) if (!ofN3.includes(v)) expect(w.get(key(v))).toEqual(byNode.get(key(v)));

    // Steady state: more polls, no more writes.
    const quiet = nacos.requests.length;
    await morePolls(3);
    expect(writes(quiet).size).toBe(0);
  }, 120_000);

  it('refuses to start on a database that holds registered instances', async () => {
    const registryUrl = await freshDatabase(db, 'registry');
    const registry = await startDaemon({ args: ['--store', registryUrl, '--node-id', 'r1'], env: { VIGIL_CLUSTER_SECRET: SECRET }, config: { log: { level: 'warn' } } });
    try {
      const res = await api(registry.url, 'POST', '/v1/instances', { service: 'db', ip: '127.0.0.1', port: 3306, ephemeral: false, checker: { type: 'tcp' } });
      expect(res.status).toBe(201);
    } finally {
      await registry.stop();
    }
    await expect(
      startDaemon({ args: ['--store', registryUrl, '--node-id', 'c1'], env: { VIGIL_CLUSTER_SECRET: SECRET }, config: { source: { nacos: { serverAddr: hostPort(nacos.url) } } } }),
    ).rejects.toThrow(/store\.url: this database holds 1 registered instances/);
  }, 60_000);
});
