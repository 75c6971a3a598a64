/**
 * How soon an operator setting written through one node is obeyed by the others: three
 * `vigil start --store mysql://… --node-id` processes on one private MariaDB with the default
 * cluster timings (`cluster.pollMs` 1000). Each round switches `activeChecks` through one node
 * (round robin) and follows `switch-changed` on every node's `GET /v1/events`; the event's `at` is
 * stamped by that daemon when its registry changed (all processes share this machine's clock).
 *
 * - written node (same-run reference): request sent → its own event (the store committed; the
 *   answer follows it);
 * - other nodes: request sent → their event (the poll read the moved settings version).
 *
 * Rounds start at a random offset (0–1 s) so they fall at every phase of the nodes' poll timers.
 *
 *   node dist/bench/cluster-settings.js [--rounds 30]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { api, startDaemon, type Daemon } from '../test/helpers/daemon.js';
import { startMariaDb } from '../test/helpers/mariadb.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';
import { connectSse, type SseClient } from '../test/helpers/sse.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const ROUNDS = Number(args.rounds);
const SECRET = 'bench-cluster-secret-0123456789';

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const fmt = (xs: number[]) => `p50 ${q(xs, 0.5).toFixed(0)} p99 ${q(xs, 0.99).toFixed(0)} max ${Math.max(...xs).toFixed(0)} ms (n=${xs.length})`;

const db = await startMariaDb();
const url = await freshDatabase(db, 'bench');
const nodes: Daemon[] = [];
const streams: SseClient[] = [];
try {
  for (const id of ['n1', 'n2', 'n3']) {
    nodes.push(await startDaemon({ args: ['--store', url, '--node-id', id], env: { VIGIL_CLUSTER_SECRET: SECRET }, config: { cluster: { nodeId: id }, log: { level: 'warn' } } }));
  }
  for (const d of nodes) streams.push(await connectSse(new URL('/v1/events?types=switch-changed', d.url).toString()));
  const local: number[] = [];
  const peers: number[] = [];
  let value = true;
  for (let r = 0; r < ROUNDS; r++) {
    await sleep(Math.random() * 1000);
    value = !value;
    const writer = r % nodes.length;
    const sent = Date.now();
    const res = await api(nodes[writer]!.url, 'PUT', '/v1/switches', { activeChecks: value });
    if (res.status !== 200) throw new Error(`PUT /v1/switches answered ${res.status}`);
    for (const [i, s] of streams.entries()) {
      const e = await s.next((x) => x.data?.data?.name === 'activeChecks' && x.data.data.value === value, 30_000);
      (i === writer ? local : peers).push((e.data.at as number) - sent);
    }
  }
  console.log(`settings visibility, ${ROUNDS} rounds, cluster.pollMs 1000 (default)`);
  console.log(`  written node (reference): ${fmt(local)}`);
  console.log(`  other nodes:              ${fmt(peers)}`);
} finally {
  for (const s of streams) s.close();
  for (const d of nodes) await d.kill();
  await db.stop();
}
