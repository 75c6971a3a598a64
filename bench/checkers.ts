/**
 * Checker benchmark: CPU microseconds of this process per probe, through the real runner and the
 * built-in checkers, each beside a bare reference loop measured in the same run against the same
 * target at the same concurrency:
 *
 *   runner-noop     runner + a checker that answers ok at once: the runner's own cost, no I/O
 *   tcp             runner + checkers/tcp.ts          vs bare net connect-and-reset (bench/reference.ts);
 *                   also bare rawConnect (the handle-level connect the checker takes) as an extra
 *   http-fresh      runner + checkers/http.ts, fresh  vs bare net connect-and-reset to the HTTP port
 *   http-keepalive  runner + checkers/http.ts         vs bare undici Client.request on one keep-alive client, body dumped
 *   mysql           runner + checkers/mysql.ts        vs bare mysql2 conn.query('SELECT 1') on one connection
 *
 * Extra like-for-like references tell library cost from vigil's: http-fresh also runs bare undici
 * with a new Client per request (what the checker does) and with one Client and `reset: true`;
 * mysql also runs the checker's role query bare.
 *
 * Probes and references alternate in `--rounds` rounds (ABBA order), each warmed up first, so a
 * burst of load from elsewhere on the machine falls on both sides. Targets live in other processes
 * (bench/checker-targets.mjs; a private mariadbd from test/helpers/mariadb.ts) on 127.0.0.1, so
 * their CPU is not counted; it is reported beside. Prints one JSON line per type, then a table.
 *
 *   npx tsc -p . && node --expose-gc dist/bench/checkers.js [--concurrency 32] [--tcp 20000]
 *     [--http 20000] [--mysql 10000] [--warmup 2000] [--rounds 4]
 *     [--only runner-noop,tcp,http-fresh,http-keepalive,mysql] [--skip-reference] [--profile-dir DIR]
 *
 * --profile-dir writes DIR/<type>.cpuprofile: a V8 CPU profile (the profiler `node --cpu-prof`
 * uses) of the measured probe phase only (one round), without start-up, warm-up or references.
 * Summarise it with `node bench/cpuprofile-top.mjs DIR/<type>.cpuprofile --probes N`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createConnection, type Connection } from 'mysql2';
import { Client } from 'undici';
import { z } from 'zod';
import { builtinCheckers } from '../checkers/index.js';
import { createCheckerRegistry } from '../src/health/checker-registry.js';
import { defineChecker, type Target } from '../src/health/contract.js';
import { createResourcePool, type ResourcePool } from '../src/health/resources.js';
import { createRunner, type Runner } from '../src/health/runner.js';
import { startMariaDb, TEST_USER, type MariaDb } from '../test/helpers/mariadb.js';
import { ON_CANCEL } from '../src/health/cancel.js';
import { rawConnect } from '../src/health/fast-connect.js';
import { bareConnectLoop } from './reference.js';

const TYPES = ['runner-noop', 'tcp', 'http-fresh', 'http-keepalive', 'mysql'] as const;
type BenchType = (typeof TYPES)[number];

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '32' },
    tcp: { type: 'string', default: '20000' },
    http: { type: 'string', default: '20000' },
    mysql: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '4' },
    only: { type: 'string', default: TYPES.join(',') },
    'skip-reference': { type: 'boolean', default: false },
    'profile-dir': { type: 'string' },
    'gc-every-chunk': { type: 'boolean', default: false },
  },
});
const CONCURRENCY = Number(values.concurrency);
const WARMUP = Number(values.warmup);
const PROFILE_DIR = values['profile-dir'];
const ROUNDS = PROFILE_DIR === undefined ? Number(values.rounds) : 1;
const ONLY = new Set(values.only.split(',').map((s) => s.trim()));
const SKIP_REFERENCE = values['skip-reference'];
/** Forces a GC before every measured chunk: only to show what that does to the figures. */
const GC_EVERY_CHUNK = values['gc-every-chunk'];
/** Microseconds between profiler samples: finer than `--cpu-prof`'s 1000 for a phase of a second or two. */
const PROFILE_INTERVAL_US = 250;
/** Far above any probe's latency here: no probe should end at its deadline. */
const TIMEOUT_MS = 2000;
/** The targets, CPU µs per probe including the runner. */
const TARGET_US: Record<BenchType, number | null> = { 'runner-noop': null, tcp: 40, 'http-fresh': 120, 'http-keepalive': 70, mysql: 200 };
// The role query of checkers/mysql.ts (not exported there), for the like-for-like reference.
const ROLE_SQL = "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('read_only','super_read_only','innodb_read_only')";
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Phase {
  readonly ops: number;
  readonly cpuUs: number;
  readonly wallMs: number;
  readonly outcomes: Record<string, number>;
  /** CPU the target process used during the phase (NaN when unknown). */
  readonly targetCpuUs: number;
}

/** A loop measured in chunks: the probes, or one of their references. */
interface Series {
  readonly name: string;
  /** Runs `count` operations and measures them; `profile` also records a CPU profile. */
  chunk(count: number, profile: boolean): Promise<Phase>;
  close?(): Promise<void>;
}

/** CPU microseconds a process has used, from /proc (Linux): what the target side costs. */
function procCpuUs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
  } catch {
    return NaN;
  }
}

/** Starts the V8 sampling profiler; the returned function stops it and writes `DIR/<name>.cpuprofile`. */
async function startProfile(name: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(PROFILE_DIR!, { recursive: true });
    writeFileSync(join(PROFILE_DIR!, `${name}.cpuprofile`), JSON.stringify(profile));
  };
}

/** A series of `op()` calls, `CONCURRENCY` in flight; CPU of this process only (and of `targetPid`). */
function opSeries(name: string, op: () => Promise<string>, targetPid?: number, close?: () => Promise<void>): Series {
  return {
    name,
    async chunk(total, profile) {
      const outcomes = new Map<string, number>();
      let started = 0;
      async function worker(): Promise<void> {
        while (started < total) {
          started++;
          const key = await op();
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      }
      if (GC_EVERY_CHUNK) gc();
      const stopProfile = profile ? await startProfile(name) : undefined;
      const target0 = procCpuUs(targetPid);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const targetCpuUs = procCpuUs(targetPid) - target0;
      await stopProfile?.();
      return { ops: total, cpuUs: cpu.user + cpu.system, wallMs, outcomes: Object.fromEntries(outcomes), targetCpuUs };
    },
    ...(close ? { close } : {}),
  };
}

/** Warms every series up, then runs `total` operations of each in ROUNDS alternating chunks. */
async function measureSeries(series: readonly Series[], total: number, profileIndex = -1): Promise<Phase[]> {
  try {
    // One forced collection per type, before the warm-up, not before every measured chunk: a forced
    // full GC discards optimised code, and the chunk after it pays for re-tiering (up to twice the
    // CPU per probe here; see --gc-every-chunk). The warm-up re-optimises.
    gc();
    for (const s of series) await s.chunk(WARMUP, false);
    const sums = series.map(() => ({ ops: 0, cpuUs: 0, wallMs: 0, targetCpuUs: 0, outcomes: {} as Record<string, number> }));
    for (let round = 0; round < ROUNDS; round++) {
      const count = Math.floor(total / ROUNDS) + (round < total % ROUNDS ? 1 : 0);
      const order = series.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const p = await series[i]!.chunk(count, i === profileIndex);
        const sum = sums[i]!;
        sum.ops += p.ops;
        sum.cpuUs += p.cpuUs;
        sum.wallMs += p.wallMs;
        sum.targetCpuUs += p.targetCpuUs;
        for (const [k, v] of Object.entries(p.outcomes)) sum.outcomes[k] = (sum.outcomes[k] ?? 0) + v;
      }
    }
    return sums;
  } finally {
    for (const s of series) await s.close?.();
  }
}

// --- references: bare loops, same target, same concurrency ---------------------------------

function connectSeries(port: number): Series {
  const at = () => ({ host: '127.0.0.1', port });
  return {
    name: 'bare-connect',
    async chunk(count) {
      if (GC_EVERY_CHUNK) gc();
      const t0 = performance.now();
      const ref = await bareConnectLoop(at, count, CONCURRENCY);
      return { ops: count, cpuUs: ref.cpuUsPerConnect * count, wallMs: performance.now() - t0, outcomes: {}, targetCpuUs: NaN };
    },
  };
}

/** A context that is never cancelled, so the bare loop pays for no signal or hook (the runner's hook costs a field). */
const NEVER_CANCELLED = { get signal(): AbortSignal { throw new Error('not read') }, [ON_CANCEL]() {} };

/** Bare rawConnect (src/health/fast-connect.ts): the handle-level connect + reset the tcp checker takes, without runner or checker. */
function rawConnectSeries(port: number): Series {
  return opSeries('bare-raw-connect', async () => (await rawConnect('127.0.0.1', 4, port, NEVER_CANCELLED)).reason);
}

function undiciKeepAliveSeries(port: number): Series {
  const client = new Client(`http://127.0.0.1:${port}`);
  return opSeries(
    'bare-undici-keepalive',
    async () => {
      const res = await client.request({ path: '/', method: 'GET' });
      await res.body.dump();
      return res.statusCode === 200 ? 'ok' : `status-${res.statusCode}`;
    },
    undefined,
    () => client.destroy(),
  );
}

/** Bare undici with `reset: true`: a new Client per request (destroyed after), or one shared Client. */
function undiciResetSeries(port: number, clientPerRequest: boolean): Series {
  const origin = `http://127.0.0.1:${port}`;
  const shared = clientPerRequest ? undefined : new Client(origin);
  return opSeries(
    clientPerRequest ? 'bare-undici-client-per-request' : 'bare-undici-shared-client-reset',
    async () => {
      const client = shared ?? new Client(origin);
      try {
        const res = await client.request({ path: '/', method: 'GET', reset: true });
        await res.body.dump();
        return res.statusCode === 200 ? 'ok' : `status-${res.statusCode}`;
      } finally {
        if (!shared) await client.destroy();
      }
    },
    undefined,
    async () => shared?.destroy(),
  );
}

function mysqlConnect(db: MariaDb): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const conn = createConnection({ host: db.host, port: db.port, ...TEST_USER });
    conn.on('error', () => undefined);
    conn.once('connect', () => resolve(conn));
    conn.once('error', reject);
  });
}

/** A bare query loop on one connection: `SELECT 1` is the reference proper. */
async function mysqlSeries(db: MariaDb, name: string, sql: string, rowsAsArray: boolean): Promise<Series> {
  const conn = await mysqlConnect(db);
  return opSeries(
    name,
    () => new Promise<string>((resolve) => conn.query({ sql, rowsAsArray }, (err) => resolve(err ? String(err.code) : 'ok'))),
    undefined,
    async () => conn.destroy(),
  );
}

// --- probes: the real runner, resource pool and checkers ------------------------------------

const registry = createCheckerRegistry(builtinCheckers);
/** Answers at once: what is left is the runner (controller, timer, promises, result object). */
registry.add(
  defineChecker({ type: 'noop', options: z.strictObject({}), check: () => Promise.resolve({ status: 'ok', reason: 'noop' }) }),
  'bench',
);

interface Rig {
  readonly runner: Runner;
  readonly pool: ResourcePool;
}

function probeSeries(rig: Rig, name: BenchType, type: string, port: number, raw: object, targetPid: number | undefined): Series {
  const checker = registry.get(type);
  const options = registry.parseOptions(type, raw);
  const target: Target = Object.freeze({ host: '127.0.0.1', port, metadata: Object.freeze({}) });
  // One scope per task, as the scheduler holds one per planned instance.
  const resources = rig.pool.scope(type);
  return opSeries(
    name,
    async () => {
      const r = await rig.runner.run({ checker, target, options, timeoutMs: TIMEOUT_MS, resources });
      return `${r.status}:${r.reason}`;
    },
    targetPid,
  );
}

// --- report ----------------------------------------------------------------------------------

interface Row {
  readonly type: BenchType;
  readonly probes: number;
  readonly concurrency: number;
  readonly cpuUsPerProbe: number;
  readonly referenceCpuUs: number | null;
  readonly overheadUs: number | null;
  readonly probesPerSecond: number;
  readonly targetUs: number | null;
  readonly met: boolean | null;
  readonly reference: string;
  /** CPU the target process spent per probe (not counted above), for context. */
  readonly targetProcessCpuUsPerProbe: number | null;
  readonly outcomes: Record<string, number>;
  /** Further references, µs per operation. */
  readonly extra?: Record<string, number>;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const perOp = (p: Phase | undefined): number | undefined => (p === undefined ? undefined : p.cpuUs / p.ops);

function rowOf(type: BenchType, phase: Phase, ref: Phase | undefined, reference: string, extra?: Record<string, Phase | undefined>): Row {
  const cpuUsPerProbe = phase.cpuUs / phase.ops;
  const refUs = perOp(ref);
  const target = TARGET_US[type];
  const extras = Object.entries(extra ?? {}).filter((e): e is [string, Phase] => e[1] !== undefined);
  return {
    type,
    probes: phase.ops,
    concurrency: CONCURRENCY,
    cpuUsPerProbe: round1(cpuUsPerProbe),
    referenceCpuUs: refUs === undefined ? null : round1(refUs),
    overheadUs: refUs === undefined ? null : round1(cpuUsPerProbe - refUs),
    probesPerSecond: Math.round(phase.ops / (phase.wallMs / 1000)),
    targetUs: target,
    met: target === null ? null : cpuUsPerProbe <= target,
    reference,
    targetProcessCpuUsPerProbe: Number.isNaN(phase.targetCpuUs) ? null : round1(phase.targetCpuUs / phase.ops),
    outcomes: phase.outcomes,
    ...(extras.length > 0 ? { extra: Object.fromEntries(extras.map(([k, p]) => [k, round1(p.cpuUs / p.ops)])) } : {}),
  };
}

function table(rows: readonly Row[]): string {
  const cell = (v: number | null): string => (v === null ? '–' : String(v));
  const lines = [
    '| type | probes | in flight | CPU µs/probe | reference µs | overhead µs | probes/s | target µs | met | outcomes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|---|',
  ];
  for (const r of rows) {
    const outcomes = Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ');
    const target = r.targetUs === null ? '–' : `≤ ${r.targetUs}`;
    const met = r.met === null ? '–' : r.met ? 'yes' : 'no';
    lines.push(
      `| ${r.type} | ${r.probes} | ${r.concurrency} | ${r.cpuUsPerProbe} | ${cell(r.referenceCpuUs)} | ${cell(r.overheadUs)} | ` +
        `${r.probesPerSecond} | ${target} | ${met} | ${outcomes} |`,
    );
  }
  return lines.join('\n');
}

// --- main ------------------------------------------------------------------------------------

interface Targets {
  readonly tcp: number;
  readonly http: number;
  readonly pid: number | undefined;
  readonly db: MariaDb | undefined;
  readonly dbPid: number | undefined;
}

/** Measures the probe series (first) with its references; the rest of `refs` are extras. */
async function compare(probe: Series, refs: readonly Series[], total: number): Promise<[Phase, ...(Phase | undefined)[]]> {
  const used = SKIP_REFERENCE ? [] : refs;
  const [phase, ...others] = await measureSeries([probe, ...used], total, PROFILE_DIR === undefined ? -1 : 0);
  if (SKIP_REFERENCE) for (const r of refs) await r.close?.();
  return [phase!, ...refs.map((_, i) => others[i])];
}

async function measure(type: BenchType, rig: Rig, t: Targets): Promise<Row> {
  const nTcp = Number(values.tcp);
  const nHttp = Number(values.http);
  switch (type) {
    case 'runner-noop': {
      const [phase] = await compare(probeSeries(rig, type, 'noop', 1, {}, undefined), [], nTcp);
      return rowOf(type, phase, undefined, 'none: no I/O');
    }
    case 'tcp': {
      const [phase, ref, raw] = await compare(probeSeries(rig, type, 'tcp', t.tcp, {}, t.pid), [connectSeries(t.tcp), rawConnectSeries(t.tcp)], nTcp);
      return rowOf(type, phase, ref, 'bare net.connect + resetAndDestroy, same listener', { bareRawConnectCpuUs: raw });
    }
    case 'http-fresh': {
      const probe = probeSeries(rig, type, 'http', t.http, { connection: 'fresh' }, t.pid);
      const refs = [connectSeries(t.http), undiciResetSeries(t.http, true), undiciResetSeries(t.http, false)];
      const [phase, ref, perRequest, shared] = await compare(probe, refs, nHttp);
      return rowOf(type, phase, ref, 'bare net.connect + resetAndDestroy to the HTTP port', {
        undiciClientPerRequestCpuUs: perRequest,
        undiciSharedClientResetCpuUs: shared,
      });
    }
    case 'http-keepalive': {
      const probe = probeSeries(rig, type, 'http', t.http, { connection: 'keepalive' }, t.pid);
      const [phase, ref] = await compare(probe, [undiciKeepAliveSeries(t.http)], nHttp);
      return rowOf(type, phase, ref, 'bare undici Client.request on one keep-alive client, body dumped');
    }
    case 'mysql': {
      const db = t.db!;
      const probe = probeSeries(rig, type, 'mysql', db.port, { user: TEST_USER.user, password: TEST_USER.password }, t.dbPid);
      // The checker's own query on a bare connection separates the driver's cost of the role
      // query's larger result set from what vigil adds.
      const refs = SKIP_REFERENCE ? [] : [await mysqlSeries(db, 'bare-select-1', 'SELECT 1', false), await mysqlSeries(db, 'bare-role-query', ROLE_SQL, true)];
      const [phase, ref, roleQuery] = await compare(probe, refs, Number(values.mysql));
      return rowOf(type, phase, ref, "bare mysql2 conn.query('SELECT 1') on one connection", { roleQueryReferenceCpuUs: roleQuery });
    }
  }
}

async function main(): Promise<void> {
  // Output piped into `head` must not crash the run before the servers are torn down.
  process.stdout.on('error', () => undefined);
  const child = spawn(process.execPath, [join(import.meta.dirname, '../../bench/checker-targets.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
  let db: MariaDb | undefined;
  try {
    const [line] = (await once(child.stdout!.setEncoding('utf8'), 'data')) as [string];
    const ports = JSON.parse(line) as { tcp: number; http: number };
    db = ONLY.has('mysql') ? await startMariaDb() : undefined;
    const dbPid = db ? Number(readFileSync(join(db.dir, 'mariadbd.pid'), 'utf8').trim()) : undefined;
    const targets: Targets = { ...ports, pid: child.pid, db, dbPid };
    const rig: Rig = { runner: createRunner(), pool: createResourcePool() };
    const rows: Row[] = [];
    for (const type of TYPES) {
      if (!ONLY.has(type)) continue;
      const r = await measure(type, rig, targets);
      rows.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
    await rig.pool.closeAll();
    const { overdue, late } = rig.runner.stats;
    process.stdout.write(`\n${table(rows)}\n\nnode ${process.version}, ${ROUNDS} round(s), runner overdue=${overdue} late=${late}\n`);
  } finally {
    child.kill();
    await db?.stop();
  }
}

await main();
