/**
 * The issue's cluster benchmark with real probing: three `vigil start --store mysql://… --node-id`
 * processes on one private MariaDB, N persistent TCP instances whose targets (listeners in this
 * process, 127.0.0.1 only) count the connections they accept.
 *
 * - probes per instance per interval across the cluster (connections per target over a window),
 *   and targets probed more than once per interval (duplicates);
 * - instances owned per node (lease rows × shard of each key): probes per node, max/min;
 * - visibility: a wave closes 10 % of the targets; for each, the deciding probe's end (the owner's
 *   `lastProbe.startedAt + latencyMs`, carried with the published record) until every node lists
 *   it DOWN (each node polled with `?healthy=false` every 50 ms, so figures have ~50 ms resolution);
 * - the store's statements per second per node at steady state (MariaDB `Questions` over 10 s / 3).
 *
 *   node dist/bench/cluster-daemons.js [--instances 3000] [--waves 3]
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { shardOf } from '../src/cluster/shards.js';
import { api, startDaemon, waitFor, type Daemon } from '../test/helpers/daemon.js';
import { startMariaDb } from '../test/helpers/mariadb.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';
import { listen } from '../test/helpers/servers.js';

const { values: args } = parseArgs({ options: { instances: { type: 'string', default: '3000' }, waves: { type: 'string', default: '3' } } });
const N = Number(args.instances);
const WAVES = Number(args.waves);
const INTERVAL_MS = 2000;
const SECRET = 'bench-cluster-secret-0123456789';

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;

interface Target { port: number; count: number; server: net.Server }
async function target(port = 0): Promise<Target> {
  const t: Target = { port, count: 0, server: net.createServer((s) => { t.count++; s.on('error', () => {}); s.end(); }) };
  t.port = await listen(t.server, port);
  return t;
}
const closeTarget = (t: Target) => new Promise<void>((r) => t.server.close(() => r()));

const db = await startMariaDb();
const url = await freshDatabase(db, 'bench');
const targets: Target[] = [];
for (let i = 0; i < N; i++) targets.push(await target());
const nodes: Daemon[] = [];
const keyOf = (i: number) => `public/DEFAULT_GROUP@@svc-${i % 30}/DEFAULT/127.0.0.1:${targets[i]!.port}`;
try {
  for (const id of ['n1', 'n2', 'n3']) {
    nodes.push(await startDaemon({
      args: ['--store', url, '--node-id', id],
      env: { VIGIL_CLUSTER_SECRET: SECRET },
      config: {
        cluster: { nodeId: id },
        checks: { intervalMs: INTERVAL_MS, timeoutMs: 500, fastIntervalMs: INTERVAL_MS, downIntervalMs: INTERVAL_MS, jitter: 0.1, rise: 1, fall: 1 },
        server: { readsPerSecond: 0 },
        log: { level: 'warn' },
      },
    }));
  }
  for (let i = 0; i < N; i += 50) {
    await Promise.all(targets.slice(i, i + 50).map((t, j) => api(nodes[0]!.url, 'POST', '/v1/instances', { service: `svc-${(i + j) % 30}`, ip: '127.0.0.1', port: t.port, ephemeral: false, checker: { type: 'tcp' } })));
  }
  const listed = async (d: Daemon, healthy?: boolean) => (await api(d.url, 'GET', `/v1/instances?limit=5000${healthy === undefined ? '' : `&healthy=${healthy}`}`)).body.instances as any[];
  await waitFor(async () => (await Promise.all(nodes.map((d) => listed(d)))).every((l) => l.length === Math.min(N, 5000)), 120_000, 500);
  await sleep(3 * INTERVAL_MS); // let leases settle after the joins

  // Ownership from the lease rows, and probes per target over 10 intervals.
  const leases = await db.query<Array<{ shard: number; owner: string }>>(`SELECT shard, owner FROM \`${new URL(url).pathname.slice(1)}\`.vigil_shard_leases`);
  const ownerOf = new Map(leases.map((l) => [l.shard, l.owner]));
  const owned = new Map<string, number>();
  for (let i = 0; i < N; i++) owned.set(ownerOf.get(shardOf(keyOf(i))) ?? 'none', (owned.get(ownerOf.get(shardOf(keyOf(i))) ?? 'none') ?? 0) + 1);
  for (const t of targets) t.count = 0;
  const q0 = await db.status('Questions');
  const windowMs = 10 * INTERVAL_MS;
  await sleep(windowMs);
  const q1 = await db.status('Questions');
  const perInterval = targets.map((t) => t.count / (windowMs / INTERVAL_MS));
  const duplicates = targets.filter((t) => t.count > windowMs / INTERVAL_MS / 0.9 + 1).length;
  const counts = [...owned.entries()].filter(([k]) => k !== 'none').map(([, v]) => v);
  console.log(`instances ${N}, interval ${INTERVAL_MS} ms`);
  console.log(`owned per node ${JSON.stringify(Object.fromEntries(owned))} max/min ${(Math.max(...counts) / Math.min(...counts)).toFixed(3)}`);
  console.log(`probes per instance per interval: mean ${(perInterval.reduce((a, b) => a + b, 0) / N).toFixed(3)} min ${Math.min(...perInterval)} max ${Math.max(...perInterval)}; targets over one prober's count: ${duplicates}`);
  console.log(`store statements/s per node at steady state: ${((q1 - q0) / (windowMs / 1000) / 3).toFixed(1)} (MariaDB Questions, includes the bench's two status reads)`);

  const lags: number[] = [];
  for (let w = 0; w < WAVES; w++) {
    const wave = targets.map((t, i) => ({ t, i })).filter(({ i }) => i % 10 === w % 10);
    const seen = nodes.map(() => new Map<number, number>());
    for (const { t } of wave) await closeTarget(t);
    const ports = new Set(wave.map(({ t }) => t.port));
    const decided = new Map<number, number>();
    await waitFor(async () => {
      const lists = await Promise.all(nodes.map((d) => listed(d, false)));
      const now = Date.now();
      lists.forEach((l, n) => {
        for (const inst of l) {
          if (!ports.has(inst.port)) continue;
          if (!seen[n]!.has(inst.port)) seen[n]!.set(inst.port, now);
          if (inst.lastProbe) decided.set(inst.port, inst.lastProbe.startedAt + inst.lastProbe.latencyMs);
        }
      });
      return seen.every((m) => m.size === ports.size);
    }, 60_000, 50);
    for (const p of ports) lags.push(Math.max(...seen.map((m) => m.get(p)!)) - decided.get(p)!);
    for (const { t, i } of wave) targets[i] = await target(t.port);
    await waitFor(async () => (await Promise.all(nodes.map((d) => listed(d, false)))).every((l) => l.length === 0), 60_000, 200);
  }
  console.log(`visibility on every node after the deciding probe (${lags.length} flips): p50 ${q(lags, 0.5).toFixed(0)} p99 ${q(lags, 0.99).toFixed(0)} max ${Math.max(...lags).toFixed(0)} ms`);
} finally {
  for (const d of nodes) await d.stop();
  for (const t of targets) t.server.close();
  await db.stop();
}
