/**
 * Beat benchmark against one vigil process (the built CLI) on loopback:
 *  1. throughput: `--instances` ephemeral instances registered, then wrk (Debian's, when installed;
 *     else autocannon) sends Nacos beats on keep-alive connections for `--seconds` (full beats with
 *     the `beat` JSON, as the npm client sends them, then light beats); beats/s, p50/p99 latency,
 *     and vigil's own CPU time per beat (the load generator shares this machine's cores);
 *  2. memory: a fresh vigil, 1k instances registered as the base, then `--rss-instances` more;
 *     RSS (and V8 heap) after a forced GC, bytes per instance, and the sweep time at that size.
 *
 *   npm run build && node dist/bench/beats.js [--instances 10000] [--seconds 15] [--connections 64]
 *     [--client wrk|autocannon] [--threads 2] [--rss-instances 100000] [--rss-base 10000]
 *     [--settle 10000] [--node-flags "--optimize-for-size"]
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { Pool } from 'undici';

/** The part of autocannon's programmatic API used here (it ships no types). */
interface CannonResult {
  requests: { total: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '15' },
    connections: { type: 'string', default: '64' },
    'rss-instances': { type: 'string', default: '100000' },
    'rss-base': { type: 'string', default: '10000' },
    settle: { type: 'string', default: '10000' },
    'node-flags': { type: 'string' },
    client: { type: 'string' },
    threads: { type: 'string', default: '2' },
  },
});
const hasWrk = ((): boolean => {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version
    return (err as { status?: number }).status === 1;
  }
})();
const CLIENT = values.client ?? (hasWrk ? 'wrk' : 'autocannon');
const WRK_SCRIPT = join(import.meta.dirname, '../../bench/beats-wrk.lua');
const N = Number(values.instances);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const RSS_N = Number(values['rss-instances']);
const SETTLE_MS = Number(values.settle);
/** Extra flags for the vigil process, e.g. `--node-flags=--optimize-for-size`. */
const NODE_FLAGS = values['node-flags'] ? values['node-flags'].split(' ').filter(Boolean) : [];
const CLI = join(import.meta.dirname, '../src/cli/main.js');
const PRELOAD = join(import.meta.dirname, '../../bench/beats-preload.mjs');
const SERVICE = 'DEFAULT_GROUP@@bench';
/** USER_HZ: the unit of CPU times in /proc/<pid>/stat on Linux. */
const TICKS = 100;

interface Vigil {
  readonly url: string;
  readonly proc: ChildProcess;
  memory(): Promise<{ rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number; spaces: Record<string, number> }>;
  cpuMs(): number;
  stop(): Promise<void>;
}

async function startVigil(beat: Record<string, unknown>): Promise<Vigil> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-beats-'));
  const configFile = join(dir, 'vigil.yaml');
  writeFileSync(configFile, JSON.stringify({ log: { level: 'warn' }, checks: { enabled: false }, beat }));
  const proc = spawn(process.execPath, [...NODE_FLAGS, '--expose-gc', '--import', PRELOAD, CLI, 'start', '--port', '0', '--data', join(dir, 'data'), '--config', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const m = /vigil: listening on (\S+)\n/.exec(err);
      if (m) resolve(m[1]!);
    };
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`vigil exited with ${code}:\n${err}`)));
  });
  return {
    url,
    proc,
    async memory() {
      const from = err.length;
      proc.kill('SIGUSR2');
      for (;;) {
        const m = /vigil-bench-memory (\{.*\})\n/.exec(err.slice(from));
        if (m) return JSON.parse(m[1]!);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    cpuMs() {
      const fields = readFileSync(`/proc/${proc.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const portOf = (i: number): number => 1024 + (i % 60000);
const ipOf = (i: number): string => {
  const g = Math.floor(i / 60000);
  return `127.0.${g >> 8}.${(g & 255) + 1}`;
};

async function register(url: string, from: number, to: number): Promise<number> {
  const pool = new Pool(url, { connections: 32, pipelining: 1 });
  const t0 = performance.now();
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      const q = new URLSearchParams({ serviceName: SERVICE, ip: ipOf(i), port: String(portOf(i)), ephemeral: 'true' });
      const res = await pool.request({ method: 'POST', path: `/nacos/v1/ns/instance?${q}` });
      const text = await res.body.text();
      if (text !== 'ok') throw new Error(`register ${i}: ${res.statusCode} ${text}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await pool.close();
  return ((to - from) / (performance.now() - t0)) * 1000;
}

function beatPath(i: number, full: boolean): string {
  const q = new URLSearchParams({ serviceName: SERVICE, namespaceId: 'public' });
  if (full) {
    q.set('beat', JSON.stringify({ serviceName: SERVICE, ip: ipOf(i), port: portOf(i), cluster: 'DEFAULT', weight: 1, metadata: {}, scheduled: true }));
  } else {
    q.set('ip', ipOf(i));
    q.set('port', String(portOf(i)));
  }
  return `/nacos/v1/ns/instance/beat?${q}`;
}

interface Run {
  total: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
}

async function withAutocannon(url: string, full: boolean): Promise<Run> {
  // Each connection beats its own share of the instances, round and round, so all stay alive.
  const shares = Array.from({ length: CONNECTIONS }, (_, c) => {
    const reqs = [];
    for (let i = c; i < N; i += CONNECTIONS) reqs.push({ method: 'PUT' as const, path: beatPath(i, full) });
    return reqs;
  });
  let k = 0;
  const r = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: shares[0]!,
    setupClient: (client: { setRequests(r: unknown[]): void }) => client.setRequests(shares[k++ % CONNECTIONS]!),
  });
  return { total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, errors: r.errors + r.timeouts, non2xx: r.non2xx };
}

const msOf = (v: string, unit: string): number => Number(v) * ({ us: 0.001, ms: 1, s: 1000 } as Record<string, number>)[unit]!;

async function withWrk(url: string, full: boolean): Promise<Run> {
  const args = ['-t', values.threads, '-c', String(CONNECTIONS), '-d', `${SECONDS}s`, '--latency', '-s', WRK_SCRIPT, url, '--', String(N), full ? '1' : '0'];
  const out = await new Promise<string>((resolve, reject) => execFile('wrk', args, (err, stdout) => (err ? reject(err) : resolve(stdout))));
  const lat = (p: string): number => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? msOf(m[1]!, m[2]!) : NaN;
  };
  const max = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    total: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50: lat('50'),
    p99: lat('99'),
    max: max ? msOf(max[1]!, max[2]!) : NaN,
    errors: errs ? errs.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

async function throughput(vigil: Vigil, full: boolean) {
  const cpu0 = vigil.cpuMs();
  const r = CLIENT === 'wrk' ? await withWrk(vigil.url, full) : await withAutocannon(vigil.url, full);
  const cpu = vigil.cpuMs() - cpu0;
  return {
    kind: full ? 'full beat (beat JSON, as the npm client)' : 'light beat (ip/port)',
    beatsPerSec: Math.round(r.total / SECONDS),
    p50: r.p50,
    p99: r.p99,
    max: r.max,
    errors: r.errors,
    non2xx: r.non2xx,
    cpuUsPerBeat: Math.round(((cpu * 1000) / r.total) * 10) / 10,
    coreShare: Math.round((cpu / 1000 / SECONDS) * 100) / 100,
  };
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${N} instances, ${CONNECTIONS} connections, ${SECONDS} s per run, client ${CLIENT}${CLIENT === 'wrk' ? ` (${values.threads} threads)` : ''}`);
  const a = await startVigil({});
  try {
    const regRate = await register(a.url, 0, N);
    console.log(`registered ${N} ephemeral instances at ${Math.round(regRate)}/s`);
    const runs = [];
    for (const full of [true, false]) runs.push(await throughput(a, full));
    const status = (await (await fetch(new URL('/v1/beat/status', a.url))).json()) as { ephemeralInstances: number; unhealthy: number; counters: unknown };
    console.log('\n| beat | beats/s | p50 ms | p99 ms | max ms | errors | non-2xx | vigil CPU µs/beat | vigil cores busy |\n|---|---|---|---|---|---|---|---|---|');
    for (const r of runs) console.log(`| ${r.kind} | ${r.beatsPerSec} | ${r.p50} | ${r.p99} | ${r.max} | ${r.errors} | ${r.non2xx} | ${r.cpuUsPerBeat} | ${r.coreShare} |`);
    console.log(`\nafter the runs: ${status.ephemeralInstances} ephemeral instances, ${status.unhealthy} unhealthy, counters ${JSON.stringify(status.counters)}`);
  } finally {
    await a.stop();
  }

  // Memory: long timeouts, so nothing expires while 100k instances are registered and measured.
  const b = await startVigil({ clientBeatIntervalMs: 5000, heartbeatTimeoutMs: 3_600_000, deleteTimeoutMs: 3_600_000 });
  try {
    // The base already carries what registering at full speed grows once (V8's young generation,
    // HTTP buffers, malloc arenas): instances added on top of it are what scales.
    const BASE = Number(values['rss-base']);
    // Each measurement after the same settling time: V8's memory reducer shrinks the heap some
    // seconds after allocation stops, and both points should be taken in the same state.
    const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));
    await register(b.url, 0, BASE);
    await settle();
    const base = await b.memory();
    const regRate = await register(b.url, BASE, BASE + RSS_N);
    await settle();
    const full = await b.memory();
    const status = (await (await fetch(new URL('/v1/beat/status', b.url))).json()) as { ephemeralInstances: number; lastSweep: { durationMs: number } };
    const mb = (x: number) => (x / 1024 / 1024).toFixed(1);
    console.log(`\nmemory: registered ${RSS_N} more at ${Math.round(regRate)}/s; ${status.ephemeralInstances} ephemeral instances; one sweep over them took ${status.lastSweep.durationMs} ms`);
    console.log('| | RSS MB | heapTotal MB | heapUsed MB | external+arrayBuffers MB |\n|---|---|---|---|---|');
    console.log(`| base (${BASE} instances) | ${mb(base.rss)} | ${mb(base.heapTotal)} | ${mb(base.heapUsed)} | ${mb(base.external + base.arrayBuffers)} |`);
    console.log(`| base + ${RSS_N} instances | ${mb(full.rss)} | ${mb(full.heapTotal)} | ${mb(full.heapUsed)} | ${mb(full.external + full.arrayBuffers)} |`);
    const spaces = Object.keys(full.spaces).map((k) => `${k} ${mb(base.spaces[k] ?? 0)}→${mb(full.spaces[k]!)}`).join(', ');
    console.log(`V8 spaces (MB, committed): ${spaces}`);
    const per = (k: 'rss' | 'heapTotal' | 'heapUsed') => Math.round((full[k] - base[k]) / RSS_N);
    console.log(`| per added instance (bytes) | ${per('rss')} | ${per('heapTotal')} | ${per('heapUsed')} | |`);
    // V8 sizes its young generation (up to 2 × 16 MB) by recent allocation, not by what is live: a
    // fixed cost that lands in the difference or not depending on when the memory reducer ran.
    const young = (full.spaces.new_space ?? 0) - (base.spaces.new_space ?? 0);
    console.log(`RSS per added instance without the young generation's resizing (${mb(young)} MB): ${Math.round((full.rss - base.rss - young) / RSS_N)} bytes`);
  } finally {
    await b.stop();
  }
}

await main();
