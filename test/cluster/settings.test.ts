/**
 * Operator settings in cluster mode, with three (then four) real vigil processes on one private
 * MariaDB: a checker config, the `activeChecks` switch and a whitelist entry set through one node's
 * API are obeyed by every node without a restart, and a node started afterwards obeys them too.
 *
 * Which node probes is told by each node's own metrics (`vigil_probes_total` by checker type);
 * that nothing is probed is told by targets that count nothing while every node's
 * `vigil_probes_exempt_total` grows by two full rounds of the instances: a window that ends on an
 * event, never a sleep.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { describeMariaDb, startMariaDb, type MariaDb } from '../helpers/mariadb.js';
import { freshDatabase } from '../helpers/mysql-url.js';
import { listen } from '../helpers/servers.js';

const SECRET = 'settings-test-cluster-secret';
const SERVICE = 'svc-settings';
/** Enough instances that every node owns some (256 shards; a node of four owning none: (3/4)^60). */
const INSTANCES = 60;
const TARGET_IP = '127.0.0.2';

describeMariaDb('operator settings across three vigil processes on one MariaDB', () => {
  let db: MariaDb;
  let url: string;
  const nodes: Daemon[] = [];
  /** The service's first checker target: counts TCP connections. */
  let tcpCount = 0;
  const tcpTarget = net.createServer((s) => {
    tcpCount++;
    s.on('error', () => {});
    s.end();
  });
  /** The checker it is changed to: counts HTTP requests on /ready. */
  let httpCount = 0;
  const httpTarget = http.createServer((req, res) => {
    if (req.url === '/ready') httpCount++;
    res.end('ok');
  });
  let tcpPort = 0;
  let httpPort = 0;

  const start = (nodeId: string) =>
    startDaemon({
      args: ['--store', url, '--node-id', nodeId],
      env: { VIGIL_CLUSTER_SECRET: SECRET },
      config: {
        // No reconcile during the file: settings must travel by the poll alone (a reconcile re-reads them too).
        cluster: { nodeId, memberTimeoutMs: 3000, leaseRenewMs: 300, leaseMarginMs: 700, pollMs: 300, pollWindowMs: 3000, reconcileMs: 600_000 },
        checks: { intervalMs: 1000, timeoutMs: 500, fastIntervalMs: 1000, downIntervalMs: 1000, jitter: 0, rise: 1, fall: 1 },
        log: { level: 'warn' },
      },
    });

  /** Sum of one node's metric lines named `name` whose labels contain `labels`. */
  async function metric(d: Daemon, name: string, labels = ''): Promise<number> {
    const res = await fetch(new URL('/metrics', d.url));
    let sum = 0;
    for (const line of (await res.text()).split('\n')) {
      if (!line.startsWith(name) || !line.includes(labels)) continue;
      const m = /^(\S+?)(\{.*\})? (\S+)$/.exec(line);
      if (m?.[1] === name) sum += Number(m[3]);
    }
    return sum;
  }
  const probes = (d: Daemon, checker: string) => metric(d, 'vigil_probes_total', `checker="${checker}"`);
  const exempt = (d: Daemon) => metric(d, 'vigil_probes_exempt_total');
  /** Resolves once every node has counted each instance exempt at least twice more. */
  async function twoExemptRounds(among: readonly Daemon[]): Promise<void> {
    const base = await Promise.all(among.map(exempt));
    await waitFor(async () => (await Promise.all(among.map(exempt))).every((n, i) => n >= base[i]! + 2 * INSTANCES), 30_000, 200);
  }
  /** Resolves once every node of `among` has run at least one more `checker` probe than now. */
  async function eachProbes(among: readonly Daemon[], checker: string): Promise<void> {
    const base = await Promise.all(among.map((d) => probes(d, checker)));
    await waitFor(async () => (await Promise.all(among.map((d) => probes(d, checker)))).every((n, i) => n > base[i]!), 30_000, 100);
  }
  const scope = { service: SERVICE };

  beforeAll(async () => {
    db = await startMariaDb();
    url = await freshDatabase(db, 'settings');
    tcpPort = await listen(tcpTarget, 0, TARGET_IP);
    httpPort = await listen(httpTarget, 0, TARGET_IP);
    for (const id of ['n1', 'n2', 'n3']) nodes.push(await start(id));
    const n1 = nodes[0]!;
    const set = await api(n1.url, 'PUT', '/v1/checker-configs', { ...scope, checker: { type: 'tcp', port: tcpPort } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    // The instances' own ports hold nothing: only the service's checker says where to probe.
    for (let i = 0; i < INSTANCES; i++) {
      const res = await api(n1.url, 'POST', '/v1/instances', { service: SERVICE, ip: TARGET_IP, port: 40000 + i, ephemeral: false });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    // Every node probes its share the first way.
    await eachProbes(nodes, 'tcp');
  }, 120_000);

  afterAll(async () => {
    for (const d of nodes) await d.kill();
    await new Promise((r) => tcpTarget.close(r));
    await new Promise((r) => httpTarget.close(r));
    await db?.stop();
  });

  it("probes the new way on every node once a service's checker is changed through one node, without a restart", async () => {
    const [n1, n2, n3] = nodes as [Daemon, Daemon, Daemon];
    const res = await api(n2.url, 'PUT', '/v1/checker-configs', { ...scope, checker: { type: 'http', port: httpPort, options: { path: '/ready' } } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    // Acknowledged means stored: every node lists it (the others within a poll).
    for (const d of [n1, n2, n3]) {
      await waitFor(async () => (await api(d.url, 'GET', '/v1/checker-configs')).body.checkerConfigs.some((c: any) => c.checker.type === 'http' && c.checker.port === httpPort), 10_000, 50);
    }
    await eachProbes(nodes, 'http');
    // From here no node probes the old target: while every instance is probed twice more the new way, it counts nothing.
    tcpCount = 0;
    httpCount = 0;
    await waitFor(() => httpCount >= 2 * INSTANCES, 30_000, 50);
    expect(tcpCount).toBe(0);
  }, 90_000);

  it('stops every node probing when activeChecks is switched off through one node, and resumes when the Nacos switch turns it on through another', async () => {
    const [n1, n2, n3] = nodes as [Daemon, Daemon, Daemon];
    const off = await api(n2.url, 'PUT', '/v1/switches', { activeChecks: false });
    expect(off.body).toEqual({ activeChecks: false });
    for (const d of [n1, n3]) await waitFor(async () => (await api(d.url, 'GET', '/v1/switches')).body.activeChecks === false, 10_000, 50);
    // A probe started just before a node saw the switch may still land: start counting after one exempt round.
    await twoExemptRounds(nodes);
    httpCount = 0;
    tcpCount = 0;
    await twoExemptRounds(nodes);
    expect(httpCount).toBe(0);
    expect(tcpCount).toBe(0);

    const on = await api(n3.url, 'PUT', '/nacos/v1/ns/operator/switches?entry=healthCheckEnabled&value=true');
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    await waitFor(async () => (await api(n1.url, 'GET', '/nacos/v1/ns/operator/switches')).body.healthCheckEnabled === true, 10_000, 50);
    await eachProbes(nodes, 'http');
  }, 120_000);

  it('exempts the instances on every node when a whitelist entry is added through one node, and probes them again once it is removed', async () => {
    const [n1, n2, n3] = nodes as [Daemon, Daemon, Daemon];
    const added = await api(n2.url, 'POST', '/v1/whitelist', { service: SERVICE, reason: 'deploy' });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const id = added.body.id as string;
    for (const d of [n1, n2, n3]) {
      await waitFor(async () => {
        const list = (await api(d.url, 'GET', `/v1/instances?service=${SERVICE}&limit=1000`)).body.instances as any[];
        return list.length === INSTANCES && list.every((i) => i.exempt?.by === 'whitelist');
      }, 10_000, 50);
    }
    await twoExemptRounds(nodes);
    httpCount = 0;
    await twoExemptRounds(nodes);
    expect(httpCount).toBe(0);

    expect((await api(n3.url, 'DELETE', `/v1/whitelist/${id}`)).status).toBe(200);
    await eachProbes(nodes, 'http');
  }, 120_000);

  it('a node started after the changes obeys them from its start: the changed checker, and the switch it finds off', async () => {
    const [n1, n2, n3] = nodes as [Daemon, Daemon, Daemon];
    await api(n1.url, 'PUT', '/v1/switches', { activeChecks: false });
    for (const d of [n2, n3]) await waitFor(async () => (await api(d.url, 'GET', '/v1/switches')).body.activeChecks === false, 10_000, 50);
    const n4 = await start('n4');
    nodes.push(n4);
    expect((await api(n4.url, 'GET', '/v1/switches')).body).toEqual({ activeChecks: false });
    expect((await api(n4.url, 'GET', '/v1/checker-configs')).body.checkerConfigs.map((c: any) => [c.checker.type, c.checker.port])).toEqual([['http', httpPort]]);
    await waitFor(async () => {
      const ms = (await api(n4.url, 'GET', '/v1/cluster/members')).body.members as any[];
      return ms.filter((m) => m.alive).length === 4 && ms.find((m) => m.nodeId === 'n4')?.shards > 0;
    }, 30_000, 100);
    await twoExemptRounds(nodes);
    expect(await probes(n4, 'http')).toBe(0);
    expect(await probes(n4, 'tcp')).toBe(0);

    await api(n2.url, 'PUT', '/v1/switches', { activeChecks: true });
    await eachProbes([n4], 'http');
    expect(await probes(n4, 'tcp')).toBe(0);
  }, 120_000);
});
