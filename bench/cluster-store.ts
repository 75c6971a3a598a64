/**
 * Cost of the peers foundation on a private MariaDB (test/helpers/mariadb.ts), loopback only:
 *
 * 1. lease rounds at steady state: three keepers (one pool each) that already hold their shards;
 *    per round: latency, and statements sent (the server's `Questions` counter). The store's
 *    queries per second per node at steady state = statements per round × rounds per second.
 *    Reference, same run: `SELECT 1` on the same pool.
 * 2. health writes for 10,000 instances: epoch-fenced `putFencedHealth` against the unfenced
 *    `putHealth` (the reference: same row, same pool, no lease check), one at a time and 4 at a time.
 * 3. what the repair paths cost at 10,000 instances: the trailing-window poll (`changesSince`)
 *    with 1,000 changed rows in the window, and a full `load()` (reconcile).
 *
 *   node dist/bench/cluster-store.js [--instances 10000] [--rounds 200] [--writes 5000]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createLeaseStore } from '../src/cluster/leases.js';
import { createMembership } from '../src/cluster/membership.js';
import { createShardKeeper, type ShardKeeper } from '../src/cluster/shard-keeper.js';
import { shardOf } from '../src/cluster/shards.js';
import { openMysqlStore, type MysqlStore } from '../src/registry/mysql-store.js';
import { startMariaDb, type MariaDb } from '../test/helpers/mariadb.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';
import { health, instance } from '../test/helpers/store-fixtures.js';

const { values: args } = parseArgs({
  options: { instances: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '200' }, writes: { type: 'string', default: '5000' } },
});
const INSTANCES = Number(args.instances);
const ROUNDS = Number(args.rounds);
const WRITES = Number(args.writes);

function quantiles(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}
const ms = (x: number) => x.toFixed(2);

async function timed(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number; perSec: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { ...quantiles(lat), perSec: Math.round(n / ((performance.now() - t0) / 1000)) };
}

async function questions(db: MariaDb): Promise<number> {
  return db.status('Questions');
}

async function leaseRounds(server: MariaDb, url: string): Promise<void> {
  const stores: MysqlStore[] = [];
  const keepers: ShardKeeper[] = [];
  for (const id of ['n1', 'n2', 'n3']) {
    const store = await openMysqlStore({ url });
    stores.push(store);
    keepers.push(
      createShardKeeper({
        nodeId: id,
        membership: createMembership({ db: store.db, nodeId: id, url: `http://127.0.0.1:1/${id}`, memberTimeoutMs: 6000, secret: 'bench-secret' }),
        leases: createLeaseStore({ db: store.db, nodeId: id, ttlMs: 6000 }),
        clock: () => performance.now(),
        ttlMs: 6000,
        marginMs: 1000,
      }),
    );
  }
  for (let i = 0; i < 4; i++) for (const k of keepers) await k.round();
  const lat: number[] = [];
  const q0 = await questions(server);
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of keepers) {
      const t = performance.now();
      const res = await k.round();
      lat.push(performance.now() - t);
      if (res.plan.acquire.length || res.plan.release.length) throw new Error('not at steady state');
    }
  }
  const q1 = await questions(server);
  const perRound = (q1 - q0 - 1) / (ROUNDS * keepers.length);
  const ref = await timed(ROUNDS * 3, 1, () => stores[0]!.db.rows('SELECT 1'));
  const q = quantiles(lat);
  const held = keepers.map((k) => k.table.held(performance.now()).length);
  console.log('\n## lease rounds at steady state (3 nodes, 256 shards)');
  console.log('| round p50 ms | round p99 ms | statements / round | store queries/s per node at 1 round/s | shards held | ref SELECT 1 p50 / p99 ms |');
  console.log('|---:|---:|---:|---:|---|---:|');
  console.log(`| ${ms(q.p50)} | ${ms(q.p99)} | ${perRound.toFixed(2)} | ${perRound.toFixed(1)} | ${held.join(' / ')} | ${ms(ref.p50)} / ${ms(ref.p99)} |`);
  await Promise.all(stores.map((s) => s.close()));
}

async function healthWrites(url: string): Promise<void> {
  const store = await openMysqlStore({ url, poolSize: 4 });
  const all = Array.from({ length: INSTANCES }, (_, i) => instance(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 3306, `svc-${i % 30}`));
  const reg = await timed(all.length, 4, (i) => store.putInstance(all[i]!.key, all[i]!.instance, health()));
  const leases = createLeaseStore({ db: store.db, nodeId: 'n1', ttlMs: 600_000 });
  const got = await leases.acquire(Array.from({ length: 256 }, (_, s) => s));
  const epoch = new Map(got.map((l) => [l.shard, l.epoch]));
  let version = 2;
  const fenced = (i: number) => {
    const a = all[i % all.length]!;
    return store.putFencedHealth(a.key, health({ version: version++ }), { nodeId: 'n1', epoch: epoch.get(shardOf(a.key))! });
  };
  const plain = (i: number) => {
    const a = all[i % all.length]!;
    return store.putHealth(a.key, health({ version: version++ }));
  };
  console.log(`\n## health writes (${INSTANCES} instances registered at ${reg.perSec}/s, 4 at a time)`);
  console.log('| write | in flight | p50 ms | p99 ms | writes/s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of [1, 4]) {
    for (const [name, fn] of [['putHealth (reference, unfenced)', plain], ['putFencedHealth', fenced]] as const) {
      const r = await timed(WRITES, c, fn);
      console.log(`| ${name} | ${c} | ${ms(r.p50)} | ${ms(r.p99)} | ${r.perSec} |`);
    }
  }
  // Repair paths: 1,000 rows changed inside the window, then poll; and a full load.
  const [clock] = await store.db.rows<{ now: number }>('SELECT CAST(ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000) AS SIGNED) AS now');
  await timed(1000, 4, fenced);
  const poll = await timed(20, 1, () => store.changesSince(clock!.now));
  const changed = (await store.changesSince(clock!.now)).health.length;
  const load = await timed(5, 1, () => store.load());
  console.log(`\n## repair paths at ${INSTANCES} instances`);
  console.log('| call | p50 ms | p99 ms |');
  console.log('|---|---:|---:|');
  console.log(`| changesSince (window holds ${changed} changed health rows) | ${ms(poll.p50)} | ${ms(poll.p99)} |`);
  console.log(`| load() (full reconcile) | ${ms(load.p50)} | ${ms(load.p99)} |`);
  await store.close();
}

const server = await startMariaDb();
try {
  console.log(`# cluster store bench: node ${process.version}, ${new Date().toISOString()}`);
  await leaseRounds(server, await freshDatabase(server, 'bench'));
  await healthWrites(await freshDatabase(server, 'bench'));
} finally {
  await server.stop();
}
