/**
 * The cluster benchmark with real probing: three `vigil start --store mysql://… --node-id`
 * processes on one private MariaDB, N persistent TCP instances whose targets (listeners in this
 * process, on 127.0.0.2) count the connections they accept.
 *
 * - probes per node: each node's `vigil_probes_total` over a steady-state window, max/min;
 * - probes per instance per interval across the cluster (connections per target over the window),
 *   and targets probed more than one prober would (duplicates);
 * - visibility: a wave closes 10 % of the targets; for each flip, from the deciding probe's end
 *   (`lastProbe.startedAt + latencyMs` of the published record) to the moment each node's registry
 *   changed (the `at` of its `health-changed` event on `GET /v1/events`, stamped by that daemon when
 *   its registry emitted it; all processes share this machine's clock). The slowest node counts.
 *   Also split: deciding probe → owner committed and showed it, owner → last peer;
 * - the store's statements per second per node at steady state (MariaDB `Questions` over the window ÷ 3).
 *
 * - where the time went: each node's pipeline stages over the waves (`self.stages` of
 *   `GET /v1/cluster/members`, stage-timings.ts) and its event-loop delay (p99 and max) during them.
 *
 *   node dist/bench/cluster-daemons.js [--instances 3000] [--waves 3] [--interval 2000] [--cpu-prof DIR]
 *
 * `--cpu-prof DIR` runs the daemons with `node --cpu-prof` (profiles in DIR, written when they stop;
 * summarise with bench/cpuprofile-top.mjs).
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { api, startDaemon, waitFor, type Daemon } from '../test/helpers/daemon.js';
import { startMariaDb } from '../test/helpers/mariadb.js';
import { freshDatabase } from '../test/helpers/mysql-url.js';
import { listen } from '../test/helpers/servers.js';

const { values: args } = parseArgs({
  options: { instances: { type: 'string', default: '3000' }, waves: { type: 'string', default: '3' }, interval: { type: 'string', default: '2000' }, 'cpu-prof': { type: 'string' } },
});
const N = Number(args.instances);
const WAVES = Number(args.waves);
const INTERVAL_MS = Number(args.interval);
const SECRET = 'bench-cluster-secret-0123456789';
/**
 * Targets listen on 127.0.0.2: every outgoing connection here leaves from 127.0.0.1, so a closed
 * target's port cannot be taken meanwhile as some socket's source port (EADDRINUSE on reopening).
 */
const TARGET_IP = '127.0.0.2';

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const fmt = (xs: number[]) => `p50 ${q(xs, 0.5).toFixed(0)} p99 ${q(xs, 0.99).toFixed(0)} max ${Math.max(...xs).toFixed(0)} ms`;

interface Target { port: number; count: number; server: net.Server }
async function target(port = 0): Promise<Target> {
  const t: Target = { port, count: 0, server: net.createServer((s) => { t.count++; s.on('error', () => {}); s.end(); }) };
  t.port = await listen(t.server, port, TARGET_IP);
  return t;
}
const closeTarget = (t: Target) => new Promise<void>((r) => t.server.close(() => r()));

interface Seen { at: number; decided: number }
/**
 * Follows a node's health-changed events: `seen` (port:healthy → when that node's registry showed
 * it, cleared per wave) and `healthy` (port → the node's current view, false once seen DOWN).
 */
function follow(d: Daemon): { seen: Map<string, Seen>; healthy: Map<number, boolean>; close(): void } {
  const seen = new Map<string, Seen>();
  const healthy = new Map<number, boolean>();
  const req = http.get(new URL('/v1/events?types=health-changed&kind=persistent', d.url), (res) => {
    let buf = '';
    res.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const line = frame.split('\n').find((l) => l.startsWith('data: '));
        if (!line) continue;
        const e = JSON.parse(line.slice(6)) as { at: number; data: { instance: { port: number }; healthy: boolean; lastProbe: { startedAt: number; latencyMs: number } | null } };
        const p = e.data.lastProbe;
        healthy.set(e.data.instance.port, e.data.healthy);
        seen.set(`${e.data.instance.port}:${e.data.healthy}`, { at: e.at, decided: p ? p.startedAt + p.latencyMs : NaN });
      }
    });
  });
  req.on('error', () => {});
  return { seen, healthy, close: () => req.destroy() };
}

/** The sum of each named metric's series, from one scrape. */
async function metrics(d: Daemon, names: readonly string[]): Promise<number[]> {
  const text = (await api(d.url, 'GET', '/metrics')).body as string;
  const sums = names.map(() => 0);
  for (const line of text.split('\n')) {
    names.forEach((name, i) => {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sums[i]! += Number(line.slice(line.lastIndexOf(' ') + 1));
    });
  }
  return sums;
}
const metric = async (d: Daemon, name: string): Promise<number> => (await metrics(d, [name]))[0]!;

const db = await startMariaDb();
const url = await freshDatabase(db, 'bench');
const targets: Target[] = [];
for (let i = 0; i < N; i++) targets.push(await target());
const nodes: Daemon[] = [];
const streams: Array<ReturnType<typeof follow>> = [];
try {
  for (const id of ['n1', 'n2', 'n3']) {
    nodes.push(await startDaemon({
      args: ['--store', url, '--node-id', id],
      env: { VIGIL_CLUSTER_SECRET: SECRET },
      ...(args['cpu-prof'] ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] } : {}),
      config: {
        cluster: { nodeId: id },
        checks: { intervalMs: INTERVAL_MS, timeoutMs: 500, fastIntervalMs: INTERVAL_MS, downIntervalMs: INTERVAL_MS, jitter: 0.1, rise: 1, fall: 1 },
        server: { readsPerSecond: 0 },
        log: { level: 'warn' },
      },
    }));
  }
  const t0 = Date.now();
  for (let i = 0; i < N; i += 50) {
    await Promise.all(targets.slice(i, i + 50).map(async (t, j) => {
      // A loaded machine may answer 503 (store statement timed out): registering again is idempotent.
      for (let attempt = 0; ; attempt++) {
        const res = await api(nodes[0]!.url, 'POST', '/v1/instances', { service: `svc-${(i + j) % 30}`, ip: TARGET_IP, port: t.port, ephemeral: false, checker: { type: 'tcp' } });
        if (res.status < 300) return;
        if (attempt === 5) throw new Error(`registration failed: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }));
  }
  console.log(`registered ${N} through n1 in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  let held: number[] = [];
  await waitFor(async () => (held = await Promise.all(nodes.map((d) => metric(d, 'vigil_instances')))).every((n) => n === N), 180_000, 500).catch((err: unknown) => {
    throw new Error(`instances held per node ${held.join(' / ')}, expected ${N}: ${String(err)}`);
  });
  await sleep(3 * INTERVAL_MS); // let leases settle after the joins and every instance be probed

  const windowMs = 10 * INTERVAL_MS;
  const p0 = await Promise.all(nodes.map((d) => metric(d, 'vigil_probes_total')));
  for (const t of targets) t.count = 0;
  const q0 = await db.status('Questions');
  await sleep(windowMs);
  const q1 = await db.status('Questions');
  const p1 = await Promise.all(nodes.map((d) => metric(d, 'vigil_probes_total')));
  const probes = p1.map((v, i) => v - p0[i]!);
  const perInterval = targets.map((t) => t.count / (windowMs / INTERVAL_MS));
  const duplicates = targets.filter((t) => t.count > windowMs / INTERVAL_MS / 0.9 + 1).length;
  console.log(`instances ${N}, interval ${INTERVAL_MS} ms, window ${windowMs} ms`);
  console.log(`probes per node ${probes.join(' / ')} max/min ${(Math.max(...probes) / Math.min(...probes)).toFixed(3)}`);
  console.log(`probes per instance per interval: mean ${(perInterval.reduce((a, b) => a + b, 0) / N).toFixed(3)} min ${Math.min(...perInterval)} max ${Math.max(...perInterval)}; targets over one prober's count: ${duplicates}`);
  console.log(`store statements/s per node at steady state: ${((q1 - q0) / (windowMs / 1000) / 3).toFixed(1)} (MariaDB Questions, includes the bench's two status reads)`);

  for (const d of nodes) streams.push(follow(d));
  await sleep(500);
  // Each scrape resets prom-client's event-loop delay histogram: the next one covers the waves only.
  await Promise.all(nodes.map((d) => metric(d, 'nodejs_eventloop_lag_max_seconds')));
  const lags: number[] = [];
  const ownerLags: number[] = [];
  const spread: number[] = [];
  let skipped = 0;
  for (let w = 0; w < WAVES; w++) {
    const all = targets.map((t, i) => ({ t, i })).filter(({ i }) => i % 10 === w % 10);
    const up = (p: number) => streams.every((s) => s.healthy.get(p) !== false);
    // A probe that timed out on this loaded machine may have flipped a target already: such a
    // target cannot flip in the wave, so it waits (a little) to come back, or is left out.
    await waitFor(() => all.every(({ t }) => up(t.port)), 10_000, 100).catch(() => undefined);
    const wave = all.filter(({ t }) => up(t.port));
    skipped += all.length - wave.length;
    for (const s of streams) s.seen.clear();
    for (const { t } of wave) await closeTarget(t);
    const ports = wave.map(({ t }) => t.port);
    await waitFor(() => ports.every((p) => streams.every((s) => s.seen.has(`${p}:false`))), 120_000, 100).catch(async (err: unknown) => {
      const missing = streams.map((s) => ports.filter((p) => !s.seen.has(`${p}:false`)));
      throw new Error(`wave ${w}: not seen DOWN per node ${missing.map((m) => m.length).join(' / ')}: ${String(err)}`);
    });
    for (const p of ports) {
      const views = streams.map((s) => s.seen.get(`${p}:false`)!);
      const decided = Math.min(...views.map((v) => v.decided));
      const ats = views.map((v) => v.at);
      lags.push(Math.max(...ats) - decided);
      ownerLags.push(Math.min(...ats) - decided);
      spread.push(Math.max(...ats) - Math.min(...ats));
    }
    for (const { t, i } of wave) targets[i] = await target(t.port);
    await waitFor(() => ports.every(up), 120_000, 100);
  }
  const loop = await Promise.all(nodes.map((d) => metrics(d, ['nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds'])));
  const selves = await Promise.all(nodes.map(async (d) => (await api(d.url, 'GET', '/v1/cluster/members')).body.self));
  for (const [i, self] of selves.entries()) {
    console.log(`${self.nodeId}: publications ${JSON.stringify(self.publications)} broadcasts ${JSON.stringify(self.broadcasts)}`);
    const [p99, max] = loop[i]!.map((s) => (s * 1000).toFixed(0));
    console.log(`  event-loop delay during the waves: p99 ${p99} max ${max} ms`);
    for (const [stage, v] of Object.entries(self.stages as Record<string, { count: number; p50: number; p99: number; max: number }>)) {
      console.log(`  ${stage.padEnd(18)} n=${String(v.count).padStart(5)}  p50 ${v.p50} p99 ${v.p99} max ${v.max} ms`);
    }
  }
  console.log(`visibility on every node after the deciding probe (${lags.length} flips; ${skipped} targets already DOWN by a timeout left out): ${fmt(lags)}`);
  console.log(`  deciding probe → first node (the owner, after its write committed): ${fmt(ownerLags)}`);
  console.log(`  first node → last node: ${fmt(spread)}`);
} finally {
  for (const s of streams) s.close();
  for (const d of nodes) await d.stop();
  // BENCH_LOGS=dir keeps each daemon's output (warnings: refused publications, failed rounds).
  if (process.env.BENCH_LOGS) nodes.forEach((d, i) => writeFileSync(`${process.env.BENCH_LOGS}/cluster-daemons-n${i + 1}.log`, d.output()));
  if (process.env.VIGIL_DEBUG_BROADCAST) nodes.forEach((d, i) => writeFileSync(`/tmp/peers-debug-n${i + 1}.txt`, d.output()));
  for (const t of targets) t.server.close();
  await db.stop();
}
