/**
 * Three cluster nodes (src/cluster/cluster-node.ts) in one process, each with its own MySQL pool
 * and its own HTTP server on 127.0.0.1, on a private MariaDB; 10,000 persistent instances. This is
 * the cluster benchmark at the foundation level: publication stands in for the deciding
 * probe (the daemon does not run on the MySQL store yet), and the nodes share one event loop.
 *
 * - ownership: how many nodes claim each instance (must be exactly 1), instances per node (max/min);
 * - visibility: instances flip in waves; time from the owner's `publishHealth` call (the moment a
 *   probe decided) until the change is applied on every other node, p50 / p99 / max;
 * - store statements per second per node at steady state (rounds and polls, nothing flipping);
 * - a crash of one node (timers stopped, nothing released): time until both others show all
 *   shards held between them;
 * - reference, same run: one unfenced `putHealth` round trip (the floor of "written, then seen").
 *
 *   node dist/bench/cluster-nodes.js [--instances 10000] [--waves 5]
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { apiServer } from '../test/helpers/api-server.js';
import { createClusterNode, type ClusterNode } from '../src/cluster/cluster-node.js';
import { SHARD_COUNT } from '../src/cluster/shards.js';
import { openMysqlStore, type MysqlStore } from '../src/registry/mysql-store.js';
import { freePort, startMariaDb } from '../test/helpers/mariadb.js';
import { memorySink, type MemorySink } from '../test/helpers/memory-sink.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';
import { health, instance } from '../test/helpers/store-fixtures.js';

const { values: args } = parseArgs({ options: { instances: { type: 'string', default: '10000' }, waves: { type: 'string', default: '5' } } });
const INSTANCES = Number(args.instances);
const WAVES = Number(args.waves);

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const f = (x: number) => x.toFixed(1);

interface N {
  id: string;
  node: ClusterNode;
  store: MysqlStore;
  sink: MemorySink;
  close(): Promise<void>;
}

const server = await startMariaDb();
const nodes: N[] = [];
try {
  const url = await freshDatabase(server, 'bench');
  /** When each node applied each (key, version): the visibility clock. */
  const seenAt = new Map<string, number>();
  for (const id of ['n1', 'n2', 'n3']) {
    const store = await openMysqlStore({ url, poolSize: 6 });
    const port = await freePort();
    const sink = memorySink();
    const applyHealth = sink.applyHealth.bind(sink);
    sink.applyHealth = (row) => {
      applyHealth(row);
      seenAt.set(`${id}\n${row.key}\n${row.health.health.version}`, performance.now());
    };
    const node = createClusterNode({
      store, nodeId: id, secret: 'bench', advertiseUrl: `http://127.0.0.1:${port}`, sink,
      memberTimeoutMs: 6000, leaseRenewMs: 1000, leaseMarginMs: 1000, pollMs: 1000, pollWindowMs: 5000, batchMs: 20, peerTimeoutMs: 2000, reconcileMs: 60_000, tombstoneRetentionMs: 3_600_000,
      clock: () => performance.now(), logger: pino({ level: 'silent' }), autoRun: true,
    });
    const app = await apiServer();
    node.registerRoutes(app);
    await app.listen({ port, host: '127.0.0.1' });
    await node.start();
    nodes.push({ id, node, store, sink, close: async () => (await node.stop(), await app.close(), await store.close()) });
  }
  const all = Array.from({ length: INSTANCES }, (_, i) => instance(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 3306, `svc-${i % 30}`));
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < all.length) {
      const a = all[next++]!;
      for (let attempt = 0; ; attempt++) {
        try {
          await nodes[next % 3]!.store.putInstance(a.key, a.instance, health());
          break;
        } catch (err) {
          if (attempt >= 3) throw err; // a timed-out statement may have landed: the upsert is safe to repeat
        }
      }
    }
  }));
  // Wait until the three nodes hold all shards between them, as each sees it.
  for (;;) {
    const counts = nodes.map((n) => n.node.members().reduce((s, m) => s + (m.alive ? m.shards : 0), 0));
    if (counts.every((c) => c === SHARD_COUNT) && nodes.every((n) => n.node.members().filter((m) => m.alive).length === 3)) break;
    await sleep(200);
  }

  // Ownership.
  const claims = all.map((a) => nodes.filter((n) => n.node.ownsKey(a.key)).length);
  const perNode = nodes.map((n) => all.filter((a) => n.node.ownsKey(a.key)).length);
  const claimHist = [0, 1, 2, 3].map((c) => claims.filter((x) => x === c).length);

  // Steady state: statements per second per node, nothing flipping.
  const q0 = await server.status('Questions');
  const t0 = performance.now();
  await sleep(10_000);
  const qps = (await server.status('Questions') - q0 - 1) / ((performance.now() - t0) / 1000) / nodes.length;

  // Reference: unfenced write round trip.
  const ref: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t = performance.now();
    await nodes[0]!.store.putHealth(all[i]!.key, health({ version: 1 }));
    ref.push(performance.now() - t);
  }

  // Waves: every instance flips once per wave, published by its owner, 8 in flight per node.
  const lat: number[] = [];
  let missed = 0;
  let publishFailures = 0;
  for (let w = 0; w < WAVES; w++) {
    const version = w + 2;
    const started = new Map<string, number>();
    await Promise.all(nodes.map(async (n) => {
      const mine = all.filter((a) => n.node.ownsKey(a.key));
      let i = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (i < mine.length) {
          const a = mine[i++]!;
          started.set(a.key, performance.now());
          // A store call that times out on this loaded machine is counted, not fatal: the flip is lost.
          await n.node.publishHealth(a.key, health({ healthy: w % 2 === 1, version })).catch(() => {
            publishFailures++;
            started.delete(a.key);
          });
        }
      }));
    }));
    // Everything visible everywhere (broadcast, else the next poll)?
    const deadline = performance.now() + 15_000;
    for (;;) {
      const pending = all.filter((a) => started.has(a.key) && nodes.some((n) => n.sink.health.get(a.key)?.stamp.version !== version && !n.node.ownsKey(a.key)));
      if (pending.length === 0 || performance.now() > deadline) {
        missed += pending.length;
        break;
      }
      await sleep(50);
    }
    for (const a of all) {
      if (!started.has(a.key)) continue;
      const others = nodes.filter((n) => !n.node.ownsKey(a.key));
      const times = others.map((n) => seenAt.get(`${n.id}\n${a.key}\n${version}`));
      if (times.some((t) => t === undefined)) continue;
      lat.push(Math.max(...(times as number[])) - started.get(a.key)!);
    }
  }

  // Crash of n3 (no release, no leave): time until both others' views show all shards held by n1 and n2.
  const crashAt = performance.now();
  await nodes[2]!.node.stop({ graceful: false });
  const reowned = (v: N) => v.node.members().filter((m) => m.alive && m.nodeId !== 'n3').reduce((s, m) => s + m.shards, 0) === SHARD_COUNT;
  while (!nodes.slice(0, 2).every(reowned)) await sleep(20);
  const reownMs = performance.now() - crashAt;

  console.log(`# cluster nodes bench: ${INSTANCES} instances, 3 nodes in one process, node ${process.version}, ${new Date().toISOString()}`);
  console.log('| what | figure |');
  console.log('|---|---|');
  console.log(`| nodes claiming an instance: 0 / 1 / 2 / 3 | ${claimHist.join(' / ')} |`);
  console.log(`| instances owned per node (max/min) | ${perNode.join(' / ')} (${(Math.max(...perNode) / Math.min(...perNode)).toFixed(3)}) |`);
  console.log(`| store statements/s per node, steady state (10 s) | ${qps.toFixed(1)} |`);
  console.log(`| visibility on every other node, p50 / p99 / max ms (${lat.length} flips, ${WAVES} waves) | ${f(q(lat, 0.5))} / ${f(q(lat, 0.99))} / ${f(Math.max(...lat))} |`);
  console.log(`| flips not visible everywhere within 15 s | ${missed} |`);
  console.log(`| publications that failed (store timeout under load) | ${publishFailures} |`);
  console.log(`| crash of n3: all its shards re-owned, as both others see it (memberTimeoutMs 6000 + round 1000 = 7000) | ${f(reownMs)} ms |`);
  console.log(`| reference: unfenced putHealth round trip p50 / p99 ms | ${f(q(ref, 0.5))} / ${f(q(ref, 0.99))} |`);
} finally {
  for (const n of nodes) await n.close().catch(() => undefined);
  await server.stop();
}
