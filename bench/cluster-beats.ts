/**
 * Ephemeral beats across three nodes (issue 12): three `vigil start --store mysql://… --node-id`
 * processes on one private MariaDB, N ephemeral instances registered through the Nacos API at
 * random nodes (so most registrations are forwarded to the responsible node).
 *
 * - beats per second sustained, with keep-alive HTTP (one undici Pool per node, `--concurrency`
 *   requests in flight), and the latency of each beat including forwarding: every beat to a random
 *   node (about two in three forwarded), and, as the same-run reference, every beat to the
 *   instance's responsible node (lease rows × shard of each key: no forwarding), the two in five
 *   alternating slices each;
 * - the replication delay of a registration to every node: a registration of a fresh one-instance
 *   service at a random node, from sending it until all three nodes list it (each polled every
 *   5 ms, so ~5 ms resolution plus one listing request).
 *
 *   node dist/bench/cluster-beats.js [--instances 3000] [--seconds 10] [--concurrency 32] [--samples 200]
 *
 * BENCH_NODE_OPTIONS is passed to the daemons as NODE_OPTIONS (e.g. `--import` of a profiler).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { shardOf } from '../src/cluster/shards.js';
import { startDaemon, waitFor, type Daemon } from '../test/helpers/daemon.js';
import { startMariaDb } from '../test/helpers/mariadb.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';

const { values: args } = parseArgs({
  options: {
    instances: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    samples: { type: 'string', default: '200' },
  },
});
const N = Number(args.instances);
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const SAMPLES = Number(args.samples);
const SECRET = 'bench-cluster-secret-0123456789';
const SERVICES = 30;

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const serviceOf = (i: number) => `DEFAULT_GROUP@@beat-${i % SERVICES}`;
const keyOf = (i: number) => `public/${serviceOf(i)}/DEFAULT/${ipOf(i)}:8080`;

const db = await startMariaDb();
const url = await freshDatabase(db, 'beats');
const nodes: Daemon[] = [];
const pools: Pool[] = [];
try {
  for (const id of ['n1', 'n2', 'n3']) {
    nodes.push(await startDaemon({ args: ['--store', url, '--node-id', id], env: { VIGIL_CLUSTER_SECRET: SECRET, ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}) }, config: { cluster: { nodeId: id }, log: { level: 'warn' } } }));
  }
  for (const d of nodes) pools.push(new Pool(d.url, { connections: CONCURRENCY, pipelining: 1 }));
  const call = async (n: number, method: 'PUT' | 'POST' | 'GET', path: string) => {
    const res = await pools[n]!.request({ method, path });
    const text = await res.body.text();
    return { status: res.statusCode, text };
  };
  const nacosPath = (route: string, params: Record<string, string | number>) => `/nacos/v1/ns/${route}?${new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]))}`;
  // Shards settled on three members before anything is registered.
  await waitFor(async () => {
    const m = JSON.parse((await call(0, 'GET', '/v1/cluster/members')).text).members as Array<{ alive: boolean; shards: number }>;
    return m.filter((x) => x.alive).length === 3 && m.reduce((s, x) => s + x.shards, 0) === 256;
  }, 60_000, 200);

  for (let i = 0; i < N; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, N - i) }, (_, j) => i + j).map(async (k) => {
        const r = await call(k % 3, 'POST', nacosPath('instance', { serviceName: serviceOf(k), ip: ipOf(k), port: 8080 }));
        if (r.status !== 200) throw new Error(`register ${k}: ${r.status} ${r.text}`);
      }),
    );
  }
  let lastCounts = '';
  const listedAll = async (service: string, n: number) => {
    const counts = await Promise.all(nodes.map((_, i) => call(i, 'GET', nacosPath('instance/list', { serviceName: service })).then((r) => (JSON.parse(r.text).hosts as unknown[]).length)));
    lastCounts = `${service}: expected ${n}, listed ${counts.join(' / ')}`;
    return counts.every((c) => c === n);
  };
  await waitFor(async () => {
    for (let s = 0; s < SERVICES; s++) if (!(await listedAll(`DEFAULT_GROUP@@beat-${s}`, Math.floor(N / SERVICES) + (s < N % SERVICES ? 1 : 0)))) return false;
    return true;
  }, 120_000, 500).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; ${lastCounts}`);
  });

  const leases = await db.query<Array<{ shard: number; owner: string }>>(`SELECT shard, owner FROM \`${new URL(url).pathname.slice(1)}\`.vigil_shard_leases`);
  const ownerNode = new Map(leases.map((l) => [l.shard, Number(l.owner.slice(1)) - 1]));

  interface Phase { ms: number; lat: number[]; bad: number }
  async function beats(pick: (i: number) => number, into: Phase, ms: number): Promise<void> {
    const { lat } = into;
    const started = performance.now();
    const end = started + ms;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const i = next++ % N;
          const t0 = performance.now();
          const r = await call(pick(i), 'PUT', nacosPath('instance/beat', { serviceName: serviceOf(i), ip: ipOf(i), port: 8080 }));
          lat.push(performance.now() - t0);
          if (r.status !== 200 || !r.text.includes('"code":10200')) into.bad++;
        }
      }),
    );
    into.ms += performance.now() - started;
  }

  // The two phases alternate in slices, so that the load of a shared machine falls on both alike.
  const spread: Phase = { ms: 0, lat: [], bad: 0 };
  const direct: Phase = { ms: 0, lat: [], bad: 0 };
  const SLICES = 5;
  for (let s = 0; s < SLICES; s++) {
    await beats(() => Math.floor(Math.random() * 3), spread, (SECONDS * 1000) / SLICES);
    await beats((i) => ownerNode.get(shardOf(keyOf(i))) ?? 0, direct, (SECONDS * 1000) / SLICES);
  }

  const delays: number[] = [];
  for (let s = 0; s < SAMPLES; s++) {
    const service = `DEFAULT_GROUP@@repl-${s}`;
    const t0 = performance.now();
    const r = await call(s % 3, 'POST', nacosPath('instance', { serviceName: service, ip: '10.200.0.1', port: 9000 + (s % 1000) }));
    if (r.status !== 200) throw new Error(`register sample ${s}: ${r.status}`);
    const seen = new Set<number>();
    while (seen.size < 3) {
      await Promise.all(
        nodes.map(async (_, n) => {
          if (seen.has(n)) return;
          const l = JSON.parse((await call(n, 'GET', nacosPath('instance/list', { serviceName: service }))).text).hosts as unknown[];
          if (l.length === 1) seen.add(n);
        }),
      );
      if (seen.size < 3) await sleep(5);
    }
    delays.push(performance.now() - t0);
  }

  const show = (name: string, r: Phase) =>
    console.log(`${name}: ${(r.lat.length / (r.ms / 1000)).toFixed(0)} beats/s, latency p50 ${q(r.lat, 0.5).toFixed(1)} p99 ${q(r.lat, 0.99).toFixed(1)} max ${Math.max(...r.lat).toFixed(1)} ms, not 10200: ${r.bad}`);
  console.log(`instances ${N}, ${SECONDS} s per phase in ${SLICES} alternating slices, ${CONCURRENCY} in flight`);
  show('beats to a random node (about 2/3 forwarded)', spread);
  show('beats to the responsible node (reference, none forwarded)', direct);
  console.log(`registration visible on every node (${delays.length} samples): p50 ${q(delays, 0.5).toFixed(1)} p99 ${q(delays, 0.99).toFixed(1)} max ${Math.max(...delays).toFixed(1)} ms`);
  const status = await Promise.all(nodes.map((_, n) => call(n, 'GET', '/v1/beat/status').then((r) => JSON.parse(r.text).cluster)));
  console.log(`per node: ${JSON.stringify(status.map((s) => ({ responsibleFor: s.responsibleFor, forwarded: s.forwarding.forwarded, received: s.forwarding.received, failed: s.forwarding.failed })))}`);
} finally {
  for (const p of pools) await p.close();
  for (const d of nodes) await d.stop();
  await db.stop();
}
